from rcrm_desktop.core import subjects, audit, operators
from rcrm_desktop.core.instance import dashboard_counts
from rcrm_desktop.db.models import Subject
from rcrm_desktop.core.text import fold
import datetime as dt

def test_smoke(instance):
    Subject.create(user_id="u1", name="Jan Šťastný", name_key=fold("Jan Šťastný"), search_key=subjects.make_search_key("Jan Šťastný","u1"))
    rows = subjects.list_subjects(instance.support, "stastny")
    assert [r.user_id for r in rows] == ["u1"]
    rows = subjects.list_subjects(instance.support, "50%_x")
    assert rows == []
    d = subjects.get_subject(instance.support, user_id="u1")
    r = subjects.rectify_subject(instance.compliance, d.subject.id, "name", "Jan Šťastný ml.", "typo", expected_version=1)
    assert r.version == 2
    print(audit.verify_chain().summary())
    assert audit.verify_chain().ok
    print(dashboard_counts(instance.admin))
