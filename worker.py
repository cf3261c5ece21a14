"""`python worker.py`: run a cx-sla worker (the same as `cxsla worker`; see starter/service/worker_runtime.py)."""

from starter.service.worker_runtime import main

if __name__ == "__main__":
    main()
