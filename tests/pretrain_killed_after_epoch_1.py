"""`python -m vitlib.pretrain ARGS`, killed with SIGKILL at the end of its first epoch (after last.pt is
written): what `kill -9` or a lost machine does, at a moment a test can rely on. Rank 0 kills itself;
under torchrun the launcher then stops the other processes. Used by tests/test_distributed.py.

    torchrun --standalone --nproc_per_node=2 tests/pretrain_killed_after_epoch_1.py ARGS
"""

import os
import signal
import sys

from vitlib import pretrain
from vitlib.distributed import processes


def kill_after_epoch_1(epoch, history, model):
    if epoch == 1 and processes().is_main:
        os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    real_fit = pretrain.fit
    pretrain.fit = lambda *args, **kwargs: real_fit(*args, on_epoch_end=kill_after_epoch_1, **kwargs)
    pretrain.main(sys.argv[1:])


if __name__ == "__main__":
    main()
