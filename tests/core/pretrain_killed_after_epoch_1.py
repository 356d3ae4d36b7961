"""`python -m vitlib.pretrain ARGS`, killed with SIGKILL in the middle of its second epoch: what `kill -9`
or a lost machine does, at a moment a test can rely on. Rank 0 kills itself at the 2nd optimiser step
after its first epoch's last.pt was written; under torchrun the launcher then stops the other
processes. The steps already taken in epoch 2 are lost, as they would be. Used by tests/test_distributed.py.

    KILL_AT_STEP=7 torchrun --standalone --nproc_per_node=2 tests/core/pretrain_killed_after_epoch_1.py ARGS
"""

import os
import signal
import sys

from vitlib import pretrain, train
from vitlib.distributed import processes


def main() -> None:
    kill_at_step = int(os.environ["KILL_AT_STEP"])  # 0-based; fit asks lr_at for the lr of every step
    real_lr_at = train.lr_at

    def lr_at(step, *args):
        if step == kill_at_step and processes().is_main:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_lr_at(step, *args)

    train.lr_at = lr_at
    pretrain.main(sys.argv[1:])


if __name__ == "__main__":
    main()
