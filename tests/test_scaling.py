"""The pool's scaling policy with plain numbers: no Ray, no cluster."""

from __future__ import annotations

import pytest

from lakebench_ray.runtime.scaling import MAX_DEMAND, UNBOUNDED, ScalingPolicy

pytestmark = pytest.mark.unit  # no Ray, servers or processes (guarded in conftest)


def fixed(n, max_actors=None):
    return ScalingPolicy(num_actors=n, max_actors=max_actors, cpus_per_actor=1.0)


def following(max_actors=None, cpus=1.0):
    return ScalingPolicy(num_actors=None, max_actors=max_actors, cpus_per_actor=cpus)


def no_free_cpus_asked():
    raise AssertionError("a fixed pool never asks for the cluster's free CPUs")


def test_fixed_count_starts_up_to_num_actors_never_more_than_the_work():
    policy = fixed(4)
    assert policy.to_start(remaining=100, actors=0, starting=0, free_cpus=no_free_cpus_asked) == 4
    assert policy.to_start(remaining=100, actors=3, starting=2, free_cpus=no_free_cpus_asked) == 1
    assert policy.to_start(remaining=2, actors=0, starting=0, free_cpus=no_free_cpus_asked) == 2
    assert policy.to_start(remaining=100, actors=4, starting=0, free_cpus=no_free_cpus_asked) == 0
    assert fixed(8, max_actors=3).to_start(remaining=100, actors=0, starting=0, free_cpus=no_free_cpus_asked) == 3


def test_following_the_cluster_fills_free_cpus_counting_actors_already_there():
    policy = following(cpus=0.5)
    assert policy.target(remaining=100, actors=2, free_cpus=3.0) == 8  # 2 + 3 / 0.5
    assert policy.to_start(remaining=100, actors=2, starting=0, free_cpus=lambda: 3.0) == 6
    # A fraction of an actor's CPUs starts nothing; the run still wants one actor.
    assert policy.target(remaining=100, actors=0, free_cpus=0.4) == 1
    assert following(max_actors=5).to_start(remaining=100, actors=0, starting=0, free_cpus=lambda: 64.0) == 5
    assert policy.to_start(remaining=3, actors=0, starting=0, free_cpus=lambda: 64.0) == 3


def test_following_the_cluster_waits_while_an_actor_waits_for_a_place():
    asked = []
    start = following().to_start(remaining=100, actors=4, starting=1, free_cpus=lambda: asked.append(1) or 8.0)
    assert start == 0 and not asked  # pending actors already ask for CPUs; the free count lags them


def test_work_left_is_unbounded_in_sustained_mode_and_never_zero():
    policy = following()
    assert policy.work_left(pending=0, in_flight=0, sustained=False) == 1
    assert policy.work_left(pending=3, in_flight=2, sustained=False) == 5
    assert policy.work_left(pending=0, in_flight=2, sustained=True) == UNBOUNDED + 2


def test_autoscaler_demand_follows_the_planned_work_or_the_running_actors():
    assert fixed(4).demand(planned=100, live=4) is None  # a fixed pool asks an autoscaler for nothing
    policy = following(max_actors=50)
    assert policy.demand(planned=10, live=3) == 10
    assert policy.demand(planned=2, live=7) == 7  # (sustained mode: do not ask to shrink under running actors)
    assert policy.demand(planned=500, live=0) == 50
    assert following().demand(planned=UNBOUNDED, live=0) == MAX_DEMAND


def test_growth_is_rate_limited_unless_forced():
    policy = ScalingPolicy(num_actors=None, max_actors=None, cpus_per_actor=1, grow_interval_s=2.0)
    assert not policy.grow_due(now=11.0, last=10.0)
    assert policy.grow_due(now=12.0, last=10.0)
    assert policy.grow_due(now=10.5, last=10.0, force=True)


@pytest.mark.parametrize("started_ever, failures, gives_up", [
    (False, 2, False), (False, 3, True), (True, 50, False),
])
def test_start_failures_end_the_run_only_when_no_actor_ever_started(started_ever, failures, gives_up):
    assert following().gives_up(started_ever, failures) is gives_up


def test_an_actor_queues_its_next_call_but_no_more():
    policy = following()
    assert policy.calls_per_actor == 2
    assert policy.queue_more(0) and policy.queue_more(1) and not policy.queue_more(2)
