"""The default classifier network and its quadratic skip path."""

import numpy as np
import pytest
import torch

from cdm_estimators.networks import AUTO_QUADRATIC_RANK, ResidualMLP, resolve_quadratic_rank


@pytest.mark.parametrize("rank", [0, 3])
def test_untrained_network_outputs_zero(rank):
    net = ResidualMLP(3, 5, width=16, n_blocks=1, quadratic_rank=rank)
    assert torch.all(net(torch.randn(7, 3)) == 0)


def test_quadratic_path_grows_quadratically_far_from_the_data():
    """Without the skip path the LayerNorm head bounds the outputs; with it they can grow."""
    torch.manual_seed(0)
    plain = ResidualMLP(2, 1, width=16, n_blocks=1)
    quad = ResidualMLP(2, 1, width=16, n_blocks=1, quadratic_rank=2)
    for net in (plain, quad):
        torch.nn.init.normal_(net.head[-1].weight)
    with torch.no_grad():
        quad.projection.weight.copy_(torch.eye(2))
        quad.quadratic.weight.copy_(torch.tensor([[0.5, 0.5, 0.0, 0.0]]))
    far = torch.tensor([[100.0, 0.0], [1000.0, 0.0]])
    plain_out, quad_out = plain(far)[:, 0], quad(far)[:, 0]
    assert abs(plain_out[1] - plain_out[0]) < 1.0  # saturated
    # 0.5 * x^2 dominates: 5,000 at x = 100, 500,000 at x = 1,000.
    np.testing.assert_allclose(quad_out.detach().numpy(), [5e3, 5e5], rtol=1e-2)


def test_quadratic_path_supports_double_backpropagation():
    net = ResidualMLP(3, 4, width=8, n_blocks=1, quadratic_rank=3)
    torch.nn.init.normal_(net.quadratic.weight)
    x = torch.randn(5, 3, requires_grad=True)
    (grad,) = torch.autograd.grad(net(x).sum(), x, create_graph=True)
    grad.pow(2).sum().backward()
    assert net.projection.weight.grad is not None
    assert torch.isfinite(net.projection.weight.grad).all()


def test_auto_rank_is_capped():
    assert resolve_quadratic_rank("auto", 10) == 10
    assert resolve_quadratic_rank("auto", 784) == AUTO_QUADRATIC_RANK
    assert resolve_quadratic_rank(5, 784) == 5
