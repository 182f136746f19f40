"""inference_module computes what the trained module computes, and leaves it alone."""

import pytest
import torch
from torch import nn

from skfewaudio.nn import CRNNEncoder, Conv4Encoder, inference_module
from skfewaudio.nn.resnet import resnet_encoder, small_encoder


def _trained_like(module):
    """Batch-norm statistics away from their initial values, as after training."""
    module.train()
    with torch.no_grad():
        for _ in range(3):
            module(3.0 + 2.0 * torch.randn(4, 1, 32, 40))
    return module


@pytest.mark.parametrize("make", [
    lambda: Conv4Encoder(n_maps=8, in_stride=2),
    lambda: CRNNEncoder(n_maps=8, n_mels=32),
    small_encoder,
    lambda: resnet_encoder().blocks[0],  # one full residual block, 3 convolutions
])
def test_inference_module_matches_eval_mode(make):
    torch.manual_seed(0)
    module = _trained_like(make())
    x = torch.randn(5, 1, 32, 40)
    fast = inference_module(module)
    with torch.inference_mode():
        expected = module.eval()(x)
        torch.testing.assert_close(fast(x), expected, rtol=1e-4, atol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())


def test_inference_module_copies_and_keeps_training_state():
    module = _trained_like(Conv4Encoder(n_maps=4, n_blocks=2))
    before = {k: v.clone() for k, v in module.state_dict().items()}
    inference_module(module)
    assert module.training
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in module.modules()) == 2


def test_batch_norm_without_running_statistics_is_not_folded():
    module = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False))
    fast = inference_module(module)
    assert isinstance(fast[1], nn.BatchNorm2d)


def test_a_one_convolution_residual_block_becomes_one_convolution():
    """The small encoder's 1x1 shortcuts merge into the 3x3 convolutions; deeper blocks keep
    theirs, and nothing merges while the batch norms are not folded."""
    module = _trained_like(small_encoder(n_maps=8))
    fast = inference_module(module)
    for block in fast.blocks:
        assert block.shortcut is None
        assert [type(m) for m in block.body] == [nn.Conv2d]
    assert all(block.shortcut is not None for block in module.blocks)  # the original intact
    assert all(b.shortcut is not None
               for b in inference_module(module, fold_batch_norm=False).blocks)
    deep = inference_module(_trained_like(resnet_encoder().blocks[0]))
    assert deep.shortcut is not None


def test_the_merged_convolution_keeps_the_modules_dtype_and_merging_twice_is_harmless():
    """The new convolution is made where the trained one lives (dtype, and so device),
    and an inference copy of an inference copy computes the same."""
    torch.manual_seed(0)
    module = _trained_like(small_encoder(n_maps=8)).double()
    fast = inference_module(module)
    assert all(block.body[0].weight.dtype == torch.float64 for block in fast.blocks)
    x = torch.randn(3, 1, 32, 40, dtype=torch.float64)
    with torch.inference_mode():
        torch.testing.assert_close(inference_module(fast)(x), module.eval()(x))
