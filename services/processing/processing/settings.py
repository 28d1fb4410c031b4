"""The processing service's settings (env prefix ``PROCESSING_``; shared ones come from ``MOTCUA_*``)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from motcua_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PROCESSING_", extra="ignore", populate_by_name=True)

    service_name: str = "processing"
    port: int = 8102
    database: str = "motcua_processing"
    event_source: str = "/motcua/processing"
    # The compacted topic of each dossier's current state (docs/events.md). Default: the dossier topic's name with
    # `.events` replaced by `.state` (motcua.dossier.events -> motcua.dossier.state), so a run on per-run test
    # topics never writes to the real state topic. Read it as `dossier_state_topic`.
    state_topic: str | None = None
    # The national portal's topic (issue 9): the dossier topic's name with `dossier.events` replaced by
    # `portal.events` unless set (a run on per-run test topics never writes to the real one); read it as
    # `dossier_portal_topic`. How often each replica checks for a completed month to report.
    portal_topic: str | None = None
    portal_report_interval_seconds: float = 3600.0
    # Overdue and due-soon detection: how often each replica looks (every replica does; each dossier is
    # announced once per due date), at most how many dossiers per pass, and the due-soon window in working days
    # of office time before the due date.
    deadline_interval_seconds: float = 30.0
    deadline_batch_size: int = 200
    due_soon_working_days: float = 1.0
    # The predicted completion date (tracking): from the most recent `prediction_window` dossiers of the same
    # procedure and competent unit that got their result; none below `prediction_min_samples` of them.
    prediction_window: int = Field(200, ge=1, le=10_000)
    prediction_min_samples: int = Field(5, ge=1)
    # Where the official forms' font files are (Liberation Serif 2: Debian's fonts-liberation2; see forms.py).
    forms_font_dir: Path = Path("/usr/share/fonts/truetype/liberation2")

    @property
    def dossier_portal_topic(self) -> str:
        return self.portal_topic or self.dossier_topic.removesuffix("dossier.events") + "portal.events"

    @property
    def dossier_state_topic(self) -> str:
        return self.state_topic or self.dossier_topic.removesuffix(".events") + ".state"
