"""Suite-wide fixtures.

A test module that sets ``TORCH_THREADS = n`` runs with that many intra-op threads (restored afterwards). The
suite runs on shared 2-core machines where small-batch work only loses to thread hand-offs: GoogLeNet's init
took 5-12 s with two threads under load and 0.7 s with one; EfficientNet's ~300 small depthwise/SE ops ran
10-50x slower.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module", autouse=True)
def _module_torch_threads(request):
    n = getattr(request.module, "TORCH_THREADS", None)
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    yield
    torch.set_num_threads(before)
