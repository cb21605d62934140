"""Parallel writers share one SQLite store without 'database is locked' failures."""
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pandas as pd

from study import tracking


def write_a_run(i: int) -> str:
    exp = tracking.ensure_store()
    run_id = tracking.start_run(exp, f"writer{i}", "test", f"key{i}", {"i": i, "grid": [1, 2, 3]}, {"worker": str(i)})
    log = tracking.RunLogger(run_id)
    for step in range(1, 31):
        log.metrics({f"loss/{k}": 1.0 / (step + k) for k in range(20)}, step=step)
    log.table("rows", pd.DataFrame({"step": range(30), "worker": i}))
    log.json("claims.json", [{"claim": "C0", "verdict": "inconclusive"}])
    log.close_children()
    tracking.finish_run(run_id, None)
    return run_id


def test_four_parallel_writers(store):
    tracking.ensure_store()  # the runner creates the store before its workers start
    with ProcessPoolExecutor(4, mp_context=get_context("spawn")) as pool:
        ids = list(pool.map(write_a_run, range(4)))
    c = tracking.client()
    for i, run_id in enumerate(ids):
        run = c.get_run(run_id)
        assert run.info.status == "FINISHED"
        # `loss/7` went to the child run of configuration 7, as `loss`, and the child is finished
        [child] = c.search_runs([run.info.experiment_id],
                                f"tags.mlflow.parentRunId = '{run_id}' and tags.config = '7'")
        assert child.info.status == "FINISHED"
        assert len(c.get_metric_history(child.info.run_id, "loss")) == 30
        assert tracking.read_tables(run_id)["rows"]["worker"].eq(i).all()
    assert tracking.find_cached("key2") == ids[2]
