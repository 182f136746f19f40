"""Contrastive pre-training of audio encoders (supervised, self-supervised, angular)
and few-shot heads on top of them."""

from ._batches import ClassBalancedBatchSampler
from ._finetune import FineTuneClassifier
from ._pretrainer import SupConPretrainer

__all__ = ["ClassBalancedBatchSampler", "FineTuneClassifier", "SupConPretrainer"]
