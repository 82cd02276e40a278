"""Week 07's library so far: PredNet's pieces (ConvLSTM step, error units, losses), the network's
update order and extrapolation, and the per-frame video scores."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_utils import metrics, train
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


def test_extrapolation_feeds_the_prediction_of_the_frame_itself():
    # from extrap_start on, the stand-in for frame t is the prediction of frame t: layer 0's error is zero
    torch.manual_seed(0)
    net = pn.PredNet((1, 4, 8))
    frames = torch.rand(2, 5, 1, 16, 16)
    _, err = net(frames, extrap_start=2)
    assert torch.all(err[:, 2:, 0] == 0) and torch.all(err[:, :2, 0] > 0)
    lstm = pn.ConvLSTMPredictor(1, (4, 4))
    _, err = lstm(frames, extrap_start=2)
    assert torch.all(err[:, 2:, 0] > 0)          # its errors are always against the true frames


def test_convlstm_predictor_is_causal_and_shaped_like_prednet():
    torch.manual_seed(0)
    net = pn.ConvLSTMPredictor(1, (4, 6))
    frames = torch.rand(2, 6, 1, 16, 16)
    pred, err = net(frames)
    assert pred.shape == frames.shape and err.shape == (2, 6, 1)
    assert float(pred.detach().min()) >= 0.0 and float(pred.detach().max()) <= 1.0
    changed = frames.clone()
    changed[:, 3] = 1.0 - changed[:, 3]
    pred2, _ = net(changed)
    assert torch.allclose(pred2[:, :4], pred[:, :4]) and not torch.allclose(pred2[:, 4], pred[:, 4])
    ex1, _ = net(frames, extrap_start=3)
    ex2, _ = net(changed, extrap_start=3)
    assert torch.allclose(ex1, ex2)
    assert pn.count_parameters(net) == sum(p.numel() for p in net.parameters())
    with pytest.raises(ValueError, match="expected"):
        net(torch.rand(1, 2, 16, 16))
    with pytest.raises(ValueError, match="even"):
        net(torch.rand(1, 2, 1, 15, 15))


def test_frame_loss_by_hand():
    pred = torch.zeros(1, 3, 1, 2, 2)
    frames = torch.ones(1, 3, 1, 2, 2)
    frames[0, 2] = 0.5
    assert float(pn.frame_loss(pred, frames, pn.time_weights(3))) == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)
    assert float(pn.frame_loss(pred, frames, pn.time_weights(3), "MSE")) == pytest.approx(0.5 * 1.0 + 0.5 * 0.25)
    with pytest.raises(ValueError, match="MSE"):
        pn.frame_loss(pred, frames, pn.time_weights(3), "L2")


def test_prediction_baselines_by_hand():
    seqs = torch.zeros(2, 4, 12, 12)
    seqs[:, 1, 0, 0] = 1.0          # one lit pixel at t = 1, another at t = 3
    seqs[:, 3, 11, 11] = 1.0
    b = metrics.prediction_baselines(seqs, n_in=2)
    assert b["black"]["next"]["mse"].tolist() == [0.0, 1.0]
    assert b["copy last"]["next"]["mse"].tolist() == [1.0, 1.0]           # frame 1 -> 2, frame 2 -> 3
    assert b["copy last"]["extrap"]["mse"].tolist() == [1.0, 2.0]         # frame 1 for both
    assert b["mean of inputs"]["extrap"]["mse"].tolist() == [0.25, 1.25]
    assert b["mean of inputs"]["next"]["mse"].tolist() == [0.25, 1.25]    # frames 0-1, then 1-2
    with pytest.raises(ValueError, match="n_in"):
        metrics.prediction_baselines(seqs, n_in=4)
    with pytest.raises(ValueError, match="window"):
        metrics.frame_ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))


def test_train_predictor_learns_a_moving_pattern_and_scores_it():
    # dense 16x16 frames, stripes moving one pixel right per frame: the next-frame error must fall.
    # (A sparse moving square makes both predictors collapse to black frames under the L1 loss: the
    # notebook's pitfall, so the unit test uses a target where black is a poor guess.)
    j = torch.arange(16, dtype=torch.float32)
    frames = torch.stack([torch.stack([0.5 + 0.5 * torch.sin(2 * math.pi * (j - t - n) / 8).expand(16, 16)
                                       for t in range(8)]) for n in range(16)])[:, :, None]
    torch.manual_seed(0)
    net = pn.ConvLSTMPredictor(1, (8,))
    before = train.predictor_scores(net, frames, n_in=4)["next"]["mse"].mean()
    seen = []
    hist = train.train_predictor(net, frames, 60, n_frames=8, batch_size=8, lr=1e-2, log_every=20,
                                 callbacks=[lambda e, m, logs: seen.append(logs["step"])], progress=False)
    assert seen == [20, 40, 60] and hist["step"] == [20, 40, 60] and len(hist["loss"]) == 3
    scores = train.predictor_scores(net, frames, n_in=4)
    assert scores["next"]["mse"].shape == (4,) and scores["extrap"]["predictions"].shape == (16, 4, 1, 16, 16)
    assert scores["next"]["mse"].mean() < 0.7 * before
    with pytest.raises(ValueError, match="frames"):
        train.train_predictor(net, frames, 1, n_frames=9, progress=False)
    with pytest.raises(ValueError, match="extrap_start"):
        train.train_predictor(net, frames, 1, n_frames=8, extrap_start=8, progress=False)
    hist = train.train_predictor(net, frames, 2, n_frames=8, extrap_start=4, log_every=1, progress=False)
    assert len(hist["loss"]) == 2
    hist = train.train_predictor(net, frames, 2, n_frames=8, loss="MSE", log_every=2, progress=False)
    assert len(hist["loss"]) == 1
    with pytest.raises(ValueError, match="loss"):
        train.train_predictor(net, frames, 1, n_frames=8, loss="L1", progress=False)


def test_training_memory_grows_with_the_batch_and_excludes_weights():
    torch.manual_seed(0)
    net = pn.PredNet((1, 4, 8))
    small = train.training_memory(net, torch.rand(1, 4, 1, 16, 16))
    big = train.training_memory(net, torch.rand(4, 4, 1, 16, 16))
    assert small["parameters"] == 4 * pn.count_parameters(net)
    assert big["activations"] > 3 * small["activations"] > 0
    assert big["bytes"] == big["activations"] + 4 * big["parameters"]
    assert all(p.grad is None for p in net.parameters())


def test_moving_mnist_clips_pool_the_standard_frames():
    from course_utils import data
    import unittest.mock as mock
    with mock.patch.object(data, "load_mnist", return_value=(torch.rand(10000, 28, 28), torch.zeros(10000, dtype=torch.long))):
        full = data.moving_mnist_clips(2, "test", 64, seed=3, seq_len=4)
        half = data.moving_mnist_clips(2, "test", 32, seed=3, seq_len=4)
    assert full.shape == (2, 4, 1, 64, 64) and half.shape == (2, 4, 1, 32, 32)
    assert torch.allclose(half, torch.nn.functional.avg_pool2d(full[:, :, 0], 2)[:, :, None])
    with pytest.raises(ValueError, match="resolution"):
        data.moving_mnist_clips(1, "test", 48)


def test_use_puts_other_functions_in_the_network_and_loss_fn_replaces_the_loss():
    torch.manual_seed(0)
    net = pn.PredNet((1, 4, 8))
    frames = torch.rand(2, 4, 1, 8, 8)
    want = net(frames)
    calls = {"e": 0, "c": 0, "loss": 0}

    def error_units(a, a_hat):
        calls["e"] += 1
        return pn.error_units(a, a_hat)

    def convlstm_step(*args):
        calls["c"] += 1
        return pn.convlstm_step(*args)

    got = net.use(error_units=error_units, convlstm_step=convlstm_step)(frames)
    assert calls == {"e": 4 * 3, "c": 4 * 3, "loss": 0}            # 4 frames x 3 layers each
    assert all(torch.equal(a, b) for a, b in zip(want, got))
    assert pn.PredNet((1, 4, 8)).error_fn is pn.error_units        # other networks keep the module's

    def loss(errors, layer_w, time_w):
        calls["loss"] += 1
        return pn.prednet_loss(errors, layer_w, time_w)

    train.train_predictor(net, torch.rand(6, 4, 1, 8, 8), 3, n_frames=4, batch_size=2, progress=False, loss_fn=loss)
    assert calls["loss"] == 3


def test_zero_biases_squared_error_units_and_representations():
    net = pn.PredNet((1, 4, 8), error_power=2)
    assert all(not m.bias.detach().any() for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    frames = torch.rand(3, 5, 1, 8, 8)
    _, errors = net(frames)
    _, plain = pn.PredNet((1, 4, 8), error_power=1)(frames)
    # with zero biases and R = 0 the first prediction is black: E_0 = [frame; 0], so mean(E_0^2) = mean(frame^2) / 2
    assert torch.allclose(errors[:, 0, 0], (frames[:, 0] ** 2).mean(dim=(1, 2, 3)) / 2, atol=1e-6)
    assert torch.allclose(plain[:, 0, 0], frames[:, 0].mean(dim=(1, 2, 3)) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="error_power"):
        pn.PredNet((1, 4), error_power=3)
    reps = net.representations(frames)
    assert [tuple(r.shape) for r in reps] == [(3, 1, 8, 8), (3, 4, 4, 4), (3, 8, 2, 2)]
    state = net.initial_state(3, 8, 8)
    with torch.no_grad():
        for t in range(5):
            _, _, state = net.step(frames[:, t], state)
    assert all(torch.equal(a, b) for a, b in zip(reps, state["R"]))
