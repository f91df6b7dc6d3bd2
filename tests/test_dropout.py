"""CPUDropout: PyTorch's dropout with a cheaper mask on the CPU (bmembed_lab/dropout.py)."""

import torch

from bmembed_lab.config import EncoderConfig, TrainingConfig
from bmembed_lab.dropout import LEVELS, CPUDropout, keep_mask, use_cpu_dropout
from bmembed_lab.encoder import Encoder
from bmembed_lab.training import prepare_model


def test_the_mask_drops_p_of_the_values_and_keeps_the_expectation():
    torch.manual_seed(0)
    x = torch.randn(1000, 1000) + 3.0
    out = CPUDropout(0.1).train()(x)
    dropped = float((out == 0).float().mean())
    p = round(0.1 * LEVELS) / LEVELS
    assert abs(dropped - p) < 0.002  # 1e6 draws: the standard error is 3e-4
    kept = out != 0
    assert torch.allclose(out[kept], x[kept] / (1 - p))
    assert abs(float(out.mean()) - float(x.mean())) < 0.01  # scaled so the expectation holds


def test_the_gradient_is_the_forward_mask_and_scale():
    torch.manual_seed(1)
    x = torch.randn(64, 384, requires_grad=True)
    out = CPUDropout(0.3).train()(x)
    out.backward(torch.ones_like(out))
    expected = (out != 0).float() / (1 - round(0.3 * LEVELS) / LEVELS)
    assert torch.equal(x.grad, expected)
    # and it is the derivative PyTorch checks numerically (one fixed mask: the seed re-drawn alike)
    y = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)

    def f(t):
        torch.manual_seed(2)
        return CPUDropout(0.5).train()(t)
    assert torch.autograd.gradcheck(f, (y,))


def test_masks_follow_torch_seed_and_eval_or_p0_is_the_identity():
    def mask(seed):
        torch.manual_seed(seed)
        return keep_mask(torch.Size([50, 40]), 0.1)[0]
    assert torch.equal(mask(5), mask(5)) and not torch.equal(mask(5), mask(6))
    x = torch.randn(10, 10)
    assert torch.equal(CPUDropout(0.1).eval()(x), x)
    assert torch.equal(CPUDropout(0.0).train()(x), x)
    assert torch.equal(CPUDropout(1.0).train()(x), torch.zeros_like(x))  # PyTorch's own at p = 1


def test_cpu_training_uses_it_for_hidden_dropout_and_keeps_attention_dropout(tiny_model_dir):
    tcfg = TrainingConfig(attention_dropout=0.0)
    enc = prepare_model(Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32"),
                                     trainable=True), tcfg)
    kinds = [type(m) for m in enc.model.modules() if isinstance(m, torch.nn.Dropout)]
    assert kinds and set(kinds) == {CPUDropout}
    attention = [m.dropout.p for m in enc.model.modules()
                 if "Attention" in type(m).__name__ and hasattr(m, "dropout")]
    assert attention and set(attention) == {0.0}  # still read by the attention interface
    hidden = {m.p for m in enc.model.modules() if isinstance(m, CPUDropout)} - {0.0}
    assert hidden == {enc.model.config.hidden_dropout_prob}
    assert use_cpu_dropout(enc.model) == 0  # nothing left to replace
