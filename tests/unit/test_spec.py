import copy

import pytest
import yaml

from contentflow.spec import DEFAULT_SPEC_PATH, PubsubTrigger, QueueTrigger, SpecError, load_spec, parse_spec


@pytest.fixture
def raw():
    return yaml.safe_load(DEFAULT_SPEC_PATH.read_text())


def test_shipped_spec_is_valid_and_chains_the_steps():
    spec = load_spec()
    assert [s.name for s in spec.steps] == ["extract", "analyse", "index"]
    assert spec.next_step("extract").name == "analyse"
    assert spec.next_step("index") is None
    # extract on a topic; the model-calling steps on Cloud Tasks queues (rate limit = quota guard)
    assert isinstance(spec.functions["extract"].trigger, PubsubTrigger)
    assert spec.functions["analyse"].trigger == QueueTrigger(type="queue", queue="model-calls")
    assert spec.functions["index"].trigger == QueueTrigger(type="queue", queue="embedding-calls")
    for name, topic in spec.topics.items():
        if topic.role == "pipeline":  # step messages: the dead_letter function fails their documents
            assert topic.dead_letter_topic == "dead-letters", name
    # Output events are kept for replay, never dropped among step messages.
    assert spec.topics["document-events"].role == "events"
    assert spec.topics[spec.topics["document-events"].dead_letter_topic].role == "archive"


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["functions"]["extract"]["runtime"].update(memory_mb="lots"), "functions.extract.runtime.memory_mb"),
    (lambda d: d["functions"]["extract"]["runtime"].update(concurrency=0), "functions.extract.runtime.concurrency"),
    (lambda d: d["topics"]["extract-requests"].update(dead_letter_topic="nowhere"), "topics.extract-requests.dead_letter_topic"),
    (lambda d: d["topics"]["extract-requests"].pop("dead_letter_topic"), "topics.extract-requests.dead_letter_topic"),
    (lambda d: d["embeddings"]["dimensions"].update(local=4096), "embeddings.dimensions.local"),
    (lambda d: d["functions"]["backfill"].update(enqueues=["sweeper"]), "functions.backfill.enqueues"),
    (lambda d: d["functions"]["extract"]["trigger"].update(topic="missing-topic"), "functions.extract.trigger.topic"),
    (lambda d: d["functions"]["api"]["project_roles"].append("roles/editor"), "functions.api"),
    (lambda d: d["steps"].append(dict(d["steps"][0])), "steps[3].name"),
    (lambda d: d["schedules"]["sweeper"]["target"].update(function="extract"), "schedules.sweeper.target.function"),
    (lambda d: d["queues"]["model-calls"]["retry"].update(max_backoff_s=0.5), "queues.model-calls.retry"),
    (lambda d: d.update(surprise=1), "surprise"),
    (lambda d: d["functions"].update(a_function_name_longer_than_27=d["functions"]["api"]), "functions.a_function_name_longer_than_27"),
    (lambda d: d.pop("retention"), "retention"),
    (lambda d: d["retention"].update(documents_days=0), "retention.documents_days"),
    # longer than every bucket keeps its objects (the records' TTL): chunks would be left behind
    (lambda d: d["retention"].update(documents_days=366), "retention.documents_days: at most the longest bucket retention (365 days)"),
    # declared access: Terraform grants exactly these, so a typo must not pass
    (lambda d: d["functions"]["jobs"]["buckets"].update(archive=["read"]), "functions.jobs.buckets: unknown bucket 'archive'"),
    (lambda d: d["functions"]["jobs"]["buckets"].update(inbox=["write"]), "functions.jobs.buckets.inbox.0"),
    (lambda d: d["functions"]["jobs"]["buckets"].update(inbox=[]), "functions.jobs.buckets.inbox"),
    (lambda d: d["functions"]["jobs"].update(hands_on="every_step"), "functions.jobs.hands_on"),
    (lambda d: d["functions"]["extract"].update(hands_on="first_step"), "functions.extract: a step function's hand-on"),
    (lambda d: d["functions"]["index"].update(announces=True), "functions.index: a step function's hand-on"),
    (lambda d: d["functions"]["sweeper"].update(signs_urls=True), "functions.sweeper.signs_urls: the signer needs create"),
    # 5 deliveries 1 s doubling: about 15 s of redelivery, shorter than the lease: a dead owner's
    # step would be dead-lettered while its lease holds, and wait for the sweeper
    (lambda d: d["delivery"].update(max_delivery_attempts=5), "delivery: 5 deliveries span about 15 s, less than twice lease_s"),
    (lambda d: d["delivery"].update(lease_s=5), "delivery.lease_s"),
])
def test_broken_spec_is_refused_naming_the_field(raw, mutate, field):
    broken = copy.deepcopy(raw)
    mutate(broken)
    with pytest.raises(SpecError) as err:
        parse_spec(broken)
    assert field in str(err.value)


def test_a_step_without_a_handler_is_refused_naming_the_step(raw):
    """Adding a step is a handler module plus a spec entry: a spec step with no handler module
    (contentflow/steps/<name>.py) is refused when the spec loads."""
    broken = copy.deepcopy(raw)
    broken["functions"]["summarise"] = {**broken["functions"]["analyse"], "source": "functions/summarise.py",
                                        "entry_point": "summarise"}
    broken["steps"].insert(2, {"name": "summarise", "function": "summarise", "status": "summarising",
                               "stuck_after_s": 300, "max_attempts": 5})
    with pytest.raises(SpecError) as err:
        parse_spec(broken)
    assert "steps[2].name: no handler for step 'summarise'" in str(err.value)


def test_shipped_spec_declares_the_access_the_code_uses():
    """What Terraform grants comes from these declarations (terraform/README.md, "Access")."""
    spec = load_spec()
    fns = spec.functions
    assert fns["fetch"].buckets == {"inbox": ["read", "create"]} and fns["fetch"].hands_on == "first_step"
    assert fns["api"].enqueues == ["fetch"] and fns["api"].signs_urls and fns["api"].hands_on == "any_step"
    assert "delete" in fns["api"].buckets["inbox"] and "delete" in fns["api"].buckets["processed"]
    assert fns["sweeper"].enqueues == ["fetch"] and fns["sweeper"].hands_on == "any_step" and fns["sweeper"].announces
    assert fns["jobs"].hands_on == "first_step" and not fns["jobs"].enqueues
    assert {b: set(a) for b, a in fns["jobs"].buckets.items()} == {"inbox": {"read", "delete"}, "processed": {"list", "create", "delete"}}
    assert [n for n, f in fns.items() if f.signs_urls] == ["api"]
    steps = {s.function for s in spec.steps}
    assert not any(fns[n].hands_on or fns[n].announces for n in steps)


def _dead_lettering_into(spec, topic_id: str) -> set[str]:
    return {name for name, t in spec.topics.items() if t.dead_letter_topic == topic_id}


def test_only_step_message_topics_dead_letter_into_the_dead_letter_function(raw):
    """The dead_letter function parses step messages: an output event sent there is dropped
    (issue #11, defect 5). Output events dead-letter into an archive that no function consumes."""
    spec = parse_spec(raw)
    [step_dead_letters] = [n for n, t in spec.topics.items() if t.role == "dead_letter"]
    assert {spec.topics[n].role for n in _dead_lettering_into(spec, step_dead_letters)} == {"pipeline"}
    [archive] = spec.archives()
    assert _dead_lettering_into(spec, archive) == {"document-events"}
    assert spec.archive_subscription(archive) == f"{archive}--archive"
    assert not any(getattr(f.trigger, "topic", None) == archive for f in spec.functions.values())


@pytest.mark.parametrize("mutate, field", [
    # the defect: the output topic dead-lettering among step messages
    (lambda d: d["topics"]["document-events"].update(dead_letter_topic="dead-letters"),
     "topics.document-events.dead_letter_topic: 'dead-letters' is not of role archive"),
    # and the reverse: a step message in the archive would fail no document
    (lambda d: d["topics"]["extract-requests"].update(dead_letter_topic="document-events-dead-letters"),
     "topics.extract-requests.dead_letter_topic: 'document-events-dead-letters' is not of role dead_letter"),
    (lambda d: d["topics"]["document-events"].pop("role"), "topics.document-events.role: the output topic carries events"),
    (lambda d: d["topics"]["document-events"].pop("dead_letter_topic"), "topics.document-events.dead_letter_topic: required"),
    (lambda d: d["topics"]["document-events-dead-letters"].update(dead_letter_topic="dead-letters"),
     "topics.document-events-dead-letters.dead_letter_topic: none for a topic of role archive"),
    (lambda d: d["functions"]["dead_letter"]["trigger"].update(topic="document-events-dead-letters"),
     "functions.dead_letter.trigger.topic: 'document-events-dead-letters' is an archive"),
    (lambda d: d["topics"]["document-events"].update(role="outputs"), "topics.document-events.role"),
])
def test_output_events_must_dead_letter_into_an_archive(raw, mutate, field):
    broken = copy.deepcopy(raw)
    mutate(broken)
    with pytest.raises(SpecError) as err:
        parse_spec(broken)
    assert field in str(err.value)
