import copy

import pytest
import yaml

from contentflow.spec import DEFAULT_SPEC_PATH, PubsubTrigger, SpecError, load_spec, parse_spec


@pytest.fixture
def raw():
    return yaml.safe_load(DEFAULT_SPEC_PATH.read_text())


def test_shipped_spec_is_valid_and_chains_the_steps():
    spec = load_spec()
    assert [s.name for s in spec.steps] == ["extract", "analyse", "index"]
    assert spec.next_step("extract").name == "analyse"
    assert spec.next_step("index") is None
    for step in spec.steps:
        assert isinstance(spec.functions[step.function].trigger, PubsubTrigger)
    for name, topic in spec.topics.items():
        assert topic.role == "dead_letter" or topic.dead_letter_topic == "dead-letters", name


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["functions"]["extract"]["runtime"].update(memory_mb="lots"), "functions.extract.runtime.memory_mb"),
    (lambda d: d["functions"]["extract"]["runtime"].update(concurrency=0), "functions.extract.runtime.concurrency"),
    (lambda d: d["topics"]["index-requests"].update(dead_letter_topic="nowhere"), "topics.index-requests.dead_letter_topic"),
    (lambda d: d["topics"]["index-requests"].pop("dead_letter_topic"), "topics.index-requests.dead_letter_topic"),
    (lambda d: d["functions"]["extract"]["trigger"].update(topic="missing-topic"), "functions.extract.trigger.topic"),
    (lambda d: d["functions"]["api"]["project_roles"].append("roles/editor"), "functions.api"),
    (lambda d: d["steps"].append(dict(d["steps"][0])), "steps[3].name"),
    (lambda d: d["schedules"]["sweeper"]["target"].update(function="extract"), "schedules.sweeper.target.function"),
    (lambda d: d["queues"]["model-calls"]["retry"].update(max_backoff_s=0.5), "queues.model-calls.retry"),
    (lambda d: d.update(surprise=1), "surprise"),
    (lambda d: d["functions"].update(a_function_name_longer_than_27=d["functions"]["api"]), "functions.a_function_name_longer_than_27"),
])
def test_broken_spec_is_refused_naming_the_field(raw, mutate, field):
    broken = copy.deepcopy(raw)
    mutate(broken)
    with pytest.raises(SpecError) as err:
        parse_spec(broken)
    assert field in str(err.value)
