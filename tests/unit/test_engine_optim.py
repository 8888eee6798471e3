"""Parameter groups: no weight decay on biases and norm parameters; group options kept; frozen ones left out."""

from __future__ import annotations

import torch
from torch import nn

from pictorch.engine.optim import adamw, decay_groups, sgd


def _net():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))


def test_decay_only_on_weights_of_two_or_more_dims():
    net = _net()
    net[0].bias.requires_grad_(False)
    groups = decay_groups([{"params": list(net.parameters()), "lr": 0.1, "name": "all"}], weight_decay=0.05)
    decayed = {id(p) for g in groups if g["weight_decay"] == 0.05 for p in g["params"]}
    plain = {id(p) for g in groups if g["weight_decay"] == 0.0 for p in g["params"]}
    assert decayed == {id(net[0].weight), id(net[3].weight)}
    assert plain == {id(net[1].weight), id(net[1].bias), id(net[3].bias)}  # the frozen conv bias is left out
    assert all(g["lr"] == 0.1 and g["name"] == "all" for g in groups)


def test_a_step_shrinks_weights_but_not_biases_or_norms():
    """With zero gradients, AdamW's decoupled decay moves only the decayed parameters."""
    net = _net()
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    for opt in (adamw(net.parameters(), lr=0.1, weight_decay=0.5), sgd(net.parameters(), lr=0.1, weight_decay=0.5)):
        for p in net.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
    for n, p in net.named_parameters():
        moved = not torch.equal(p, before[n])
        assert moved == (p.dim() >= 2), n


def test_no_decay_keeps_one_group_as_given():
    net = _net()
    groups = decay_groups(net.parameters(), 0.0)
    assert len(groups) == 1 and len(groups[0]["params"]) == len(list(net.parameters()))
    opt = adamw(net.parameters(), lr=0.1)  # no decay means none (AdamW's own default is 0.01)
    before = [p.detach().clone() for p in net.parameters()]
    for p in net.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
