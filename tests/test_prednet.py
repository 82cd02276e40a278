"""Week 07's library so far: PredNet's pieces (ConvLSTM step, error units, losses), the network's
update order and extrapolation, and the per-frame video scores."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_utils import metrics
from course_utils.models import prednet as pn


def test_convlstm_step_matches_the_equations_pixel_by_pixel():
    g = torch.Generator().manual_seed(0)
    x, h, c = (torch.randn(2, ch, 5, 6, generator=g, dtype=torch.float64) for ch in (3, 4, 4))
    weight = 0.3 * torch.randn(16, 7, 1, 1, generator=g, dtype=torch.float64)   # 1x1: per-pixel linear maps
    bias = torch.randn(16, generator=g, dtype=torch.float64)
    h1, c1 = pn.convlstm_step(x, h, c, weight, bias)
    hs = lambda v: min(max(0.2 * v + 0.5, 0.0), 1.0)  # noqa: E731
    for b, i, j in ((0, 0, 0), (1, 4, 5), (0, 2, 3)):
        z = weight[:, :, 0, 0] @ torch.cat([x[b, :, i, j], h[b, :, i, j]]) + bias
        for k in range(4):
            gi, gf, go, gg = (float(z[q * 4 + k]) for q in range(4))
            cell = hs(gf) * float(c[b, k, i, j]) + hs(gi) * math.tanh(gg)
            assert float(c1[b, k, i, j]) == pytest.approx(cell)
            assert float(h1[b, k, i, j]) == pytest.approx(hs(go) * math.tanh(cell))


def test_error_units_split_the_signed_error():
    a = torch.tensor([[[[0.2, 0.9]]]])
    a_hat = torch.tensor([[[[0.5, 0.4]]]])
    e = pn.error_units(a, a_hat)
    assert e.shape == (1, 2, 1, 2)
    assert torch.allclose(e[0, 0, 0], torch.tensor([0.0, 0.5])) and torch.allclose(e[0, 1, 0], torch.tensor([0.3, 0.0]))


def test_weights_and_loss():
    assert pn.layer_weights(3, "L_0").tolist() == [1.0, 0.0, 0.0]
    assert pn.layer_weights(3, "L_all").tolist() == pytest.approx([1.0, 0.1, 0.1])
    assert pn.time_weights(5).tolist() == [0.0, 0.25, 0.25, 0.25, 0.25]
    errors = torch.arange(2 * 5 * 3, dtype=torch.float64).reshape(2, 5, 3)
    want = np.mean([sum(pn.time_weights(5)[t] * pn.layer_weights(3, "L_all")[l] * errors[b, t, l]
                        for t in range(5) for l in range(3)) for b in range(2)])
    assert float(pn.prednet_loss(errors, pn.layer_weights(3, "L_all").double(), pn.time_weights(5).double())) == \
        pytest.approx(float(want))
    with pytest.raises(ValueError):
        pn.layer_weights(3, "L_1")


def test_prednet_shapes_causality_and_extrapolation():
    torch.manual_seed(0)
    net = pn.PredNet((1, 4, 8))
    frames = torch.rand(2, 6, 1, 16, 16)
    pred, err = net(frames)
    assert pred.shape == frames.shape and err.shape == (2, 6, 3)
    assert float(pred.detach().min()) >= 0.0 and float(pred.detach().max()) <= 1.0
    # the prediction of frame t is made before frame t is seen: changing frame 4 leaves it alone
    changed = frames.clone()
    changed[:, 4] = 1.0 - changed[:, 4]
    pred2, _ = net(changed)
    assert torch.allclose(pred2[:, :5], pred[:, :5]) and not torch.allclose(pred2[:, 5], pred[:, 5])
    # extrapolating from t = 3: the frames from 3 on are never looked at
    ex1, _ = net(frames, extrap_start=3)
    ex2, _ = net(changed, extrap_start=3)
    assert torch.allclose(ex1, ex2) and torch.allclose(ex1[:, :4], pred[:, :4])
    with pytest.raises(ValueError, match="divisible"):
        net(torch.rand(1, 2, 1, 18, 18))
    with pytest.raises(ValueError, match="channels"):
        net(torch.rand(1, 2, 3, 16, 16))


def test_every_parameter_gets_a_gradient_from_the_all_layer_loss():
    # whether a small PredNet learns Moving MNIST is the notebook's question (it can collapse to blank
    # frames); here only that every weight is wired into the loss
    torch.manual_seed(0)
    net = pn.PredNet((1, 4, 8))
    _, err = net(torch.rand(2, 4, 1, 16, 16))
    pn.prednet_loss(err, pn.layer_weights(3, "L_all"), pn.time_weights(4)).backward()
    silent = [name for name, p in net.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not silent, silent


def test_frame_scores():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(3, 4, 16, 16, generator=g)
    pred = (target + 0.1 * torch.randn(3, 4, 16, 16, generator=g)).clamp(0, 1)
    mse = metrics.frame_mse(pred, target)
    assert mse.shape == (4,) and mse[0] == pytest.approx(float(((pred[:, 0] - target[:, 0]) ** 2).sum((1, 2)).mean()))
    assert metrics.frame_mse(target, target).tolist() == [0.0] * 4
    psnr = metrics.frame_psnr(pred, target)
    per_pixel = ((pred[0, 0] - target[0, 0]) ** 2).mean()
    assert psnr.shape == (4,) and 15 < psnr[0] < 25 and math.isfinite(float(per_pixel))
    ssim = metrics.frame_ssim(pred, target)
    assert np.allclose(metrics.frame_ssim(target, target), 1.0)
    assert (ssim < 1).all() and (ssim > 0).all()
    # a constant frame against itself shifted in level: SSIM = (2 a b + c1) / (a^2 + b^2 + c1)
    a, b = torch.full((1, 1, 12, 12), 0.2), torch.full((1, 1, 12, 12), 0.6)
    c1 = 0.01 ** 2
    assert metrics.frame_ssim(a, b)[0] == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.04 + 0.36 + c1))
    with pytest.raises(ValueError, match="same shape"):
        metrics.frame_mse(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 4, 4))
