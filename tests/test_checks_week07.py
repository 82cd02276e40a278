"""Week 07's self-checks: the course's implementations pass; typical mistakes fail with a message naming them."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_utils.checks import week07 as checks
from course_utils.models import prednet as pn


def test_the_reference_implementations_pass(course_implementation_allowed, capsys):
    checks.check_error_units(pn.error_units)
    checks.check_convlstm_step(pn.convlstm_step)
    checks.check_prednet_loss(pn.prednet_loss)
    assert capsys.readouterr().out.count("\u2714") == 3


@pytest.mark.parametrize("wrong, message", [
    (lambda a, h: torch.cat([F.relu(h - a), F.relu(a - h)], 1), "swapped"),
    (lambda a, h: torch.cat([(a - h).abs(), (a - h).abs()], 1), "both halves"),
    (lambda a, h: torch.cat([a - h, h - a], 1), "ReLU is missing"),
    (lambda a, h: torch.stack([F.relu(a - h), F.relu(h - a)], 1), "new axis"),
    (lambda a, h: torch.cat([F.relu(a - h), F.relu(h - a)], 1).detach(), "gradient"),
    (lambda a, h: None, "None"),
])
def test_error_unit_mistakes_are_named(wrong, message):
    with pytest.raises(checks.CheckFailed, match=message):
        checks.check_error_units(wrong)


def _step(order="ifog", gate=lambda v: torch.clamp(0.2 * v + 0.5, 0, 1), old_cell=False, swap=False, no_o=False):
    def convlstm_step(x, h, c, weight, bias):
        z = F.conv2d(torch.cat([x, h], 1), weight, bias, padding=weight.shape[-1] // 2)
        parts = dict(zip(order, z.chunk(4, 1)))
        c_new = gate(parts["f"]) * c + gate(parts["i"]) * torch.tanh(parts["g"])
        h_new = (1 if no_o else gate(parts["o"])) * torch.tanh(c if old_cell else c_new)
        return (c_new, h_new) if swap else (h_new, c_new)
    return convlstm_step


@pytest.mark.parametrize("wrong, message", [
    (_step(gate=torch.sigmoid), "hard"),
    (_step(order="fiog"), "order f, i, o, g"),
    (_step(swap=True), r"\(h', c'\)"),
    (_step(no_o=True), "output gate"),
    (_step(old_cell=True), "NEW cell"),
])
def test_convlstm_mistakes_are_named(wrong, message):
    with pytest.raises(checks.CheckFailed, match=message):
        checks.check_convlstm_step(wrong)


@pytest.mark.parametrize("wrong, message", [
    (lambda e, lw, tw: (e * tw[None, :, None] * lw[None, None, :]).sum(), "summed over the batch"),
    (lambda e, lw, tw: (e * tw[None, :, None] * lw[None, None, :]).mean(), "averaged over the frames"),
    (lambda e, lw, tw: (e * tw[None, :, None]).sum((1, 2)).mean(), "layer weights"),
    (lambda e, lw, tw: (e * lw[None, None, :]).sum((1, 2)).mean(), "time weights"),
    (lambda e, lw, tw: (e * tw[None, :, None] * lw[None, None, :]).sum((1, 2)).mean().detach(), "gradient"),
    (lambda e, lw, tw: (e * tw[None, :, None] * lw[None, None, :]).sum((1, 2)), "shape"),
])
def test_loss_mistakes_are_named(wrong, message):
    with pytest.raises(checks.CheckFailed, match=message):
        checks.check_prednet_loss(wrong)


def test_unfinished_exercises_fall_back_to_the_reference(capsys):
    def error_units(a, a_hat):
        raise NotImplementedError()
    checks.check_error_units(error_units)
    assert "\u2718" in capsys.readouterr().out
    stand_in = checks.reference_if_unfinished(error_units)
    a, h = torch.rand(1, 1, 2, 2), torch.rand(1, 1, 2, 2)
    assert torch.equal(stand_in(a, h), pn.error_units(a, h))
