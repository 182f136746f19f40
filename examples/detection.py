"""Few-shot event detection: from five annotated calls to a CSV of detections.

A synthetic minute of pink noise holds 20 harmonic calls and 10 noise bursts. The
first five calls are the annotation a user would make; FewShotEventDetector finds
the other calls, writes them in the DCASE CSV format, and the DCASE metric scores
them against the full annotation. Runs in a few seconds on a CPU.
"""

import io

from skfewaudio.detection import (
    FewShotEventDetector,
    event_f_measure,
    make_event_recording,
    read_events_csv,
    write_events_csv,
)

SR = 16000

# A recording and its full reference annotation (what DCASE would hold out).
x, reference = make_event_recording(60.0, n_events=20, n_distractors=10, sample_rate=SR,
                                    snr_db=5.0, random_state=0)

# 1. The user's annotation file: the first five calls, DCASE format.
annotation = io.StringIO()
write_events_csv(annotation, {"demo.wav": reference[:5]}, label="POS")
print(annotation.getvalue())
annotation.seek(0)
shots = read_events_csv(annotation)["demo.wav"]

# 2. Learn the call from the shots and find the others (after the last shot).
detector = FewShotEventDetector(sample_rate=SR, random_state=0, verbose=1)
events = detector.fit(x, shots).predict(x)
print(f"window {detector.window_samples_ / SR:.3f} s, "
      f"{detector.n_positive_windows_} positive / {detector.n_negative_windows_} negative "
      f"training windows, {len(events)} events found")

# 3. The detections as a DCASE prediction CSV.
predictions = io.StringIO()
write_events_csv(predictions, {"demo.wav": events})
print("\n".join(predictions.getvalue().splitlines()[:6]), "\n...")

# 4. Score them as the challenge does (the five shots are removed from the reference).
scores = event_f_measure({"demo.wav": reference}, {"demo.wav": events})
print(f"precision {scores['precision']:.2f}, recall {scores['recall']:.2f}, "
      f"F-measure {scores['f_measure']:.2f}")
