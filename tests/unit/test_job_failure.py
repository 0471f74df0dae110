"""Why Ray failed a job, in one line, when the job itself could not say (``launch.job_failure``).

The message is Ray 2.60's own, as read from a cluster whose worker host was killed mid-job
(tests/integration/test_cluster_when_hosts_die.py makes it happen for real)."""

from rmsweep.launch import job_failure

NODE_DIED = (
    "Job supervisor actor died: The actor died unexpectedly before finishing this task.\n"
    "\tclass_name: JobSupervisor\n\tactor_id: 86e1e3f882df665dbb67af1f01000000\n\tpid: 7042\n"
    "\tip: 10.231.0.12\nThe actor died because its node has died. Node Id: cca74ebe6ab4\n"
    "\tthe actor's node was terminated unexpectedly: health check failed due to missing too "
    "many heartbeats"
)


def test_a_lost_node_is_named_with_rays_cause() -> None:
    assert job_failure(NODE_DIED, "10.231.0.12") == (
        "its node 10.231.0.12 was lost: the actor's node was terminated unexpectedly: "
        "health check failed due to missing too many heartbeats"
    )


def test_other_failures_keep_rays_first_line_and_the_node() -> None:
    reason = job_failure("runtime_env setup failed: no space\ntraceback…", "10.0.0.5")
    assert reason == "runtime_env setup failed: no space (its driver ran on node 10.0.0.5)"
    assert job_failure("", None) == "Ray failed the job"
    assert "\n" not in job_failure(NODE_DIED, None) and "(unknown)" in job_failure(NODE_DIED, None)
