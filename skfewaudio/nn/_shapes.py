"""Shape arithmetic of the encoders' ceil-mode pools and strided convolutions."""


def strided_shape(shape, stride):
    """``shape`` (rows, steps) after a ceil-mode pool or a "same" convolution of
    ``stride`` (an int or a pair)."""
    stride = stride if isinstance(stride, tuple) else (stride, stride)
    return tuple(-(-n // s) for n, s in zip(shape, stride))
