"""Prints what a rank of ``dlbasic run`` sees: its rank, the world, the environment, args."""
import os
import sys

import dlbasic
import dlbasic.distributed as dist

dist.init_process_group("gloo")        # a PyTorch CPU script's backend runs on MPI too
print(f"rank={dist.get_rank()} world={dist.get_world_size()} RANK={os.environ['RANK']} "
      f"WORLD_SIZE={os.environ['WORLD_SIZE']} LOCAL_RANK={os.environ['LOCAL_RANK']} "
      f"threads={dlbasic.get_num_threads()} name={__name__} args={sys.argv[1:]}", flush=True)
dist.destroy_process_group()
