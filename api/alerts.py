"""Alerts: notification channels (admins), alert rules (editors), alerts and the delivery log."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query, Request, Response, status

from api.deps import MAX_ID, NowDep, SessionDep
from api.models import PageNumber, PageSize, Paginated, paginated
from api.routing import BothSlashesRouter
from core import schemas, service

router = BothSlashesRouter(tags=["alerts"])

ChannelId = Annotated[int, Path(ge=1, le=MAX_ID, description="The channel's id.")]
RuleId = Annotated[int, Path(ge=1, le=MAX_ID, description="The alert rule's id.")]
AlertId = Annotated[int, Path(ge=1, le=MAX_ID, description="The alert's id.")]

# -- channels (admins) -------------------------------------------------------------------


@router.post("/v3/notification-channels", status_code=status.HTTP_201_CREATED,
             response_model=schemas.ChannelOut)
def create_channel(session: SessionDep, now: NowDep, body: schemas.ChannelCreate
                   ) -> schemas.ChannelOut:
    """Create a webhook, Slack or email channel. A webhook's signing secret (whsec_...) is
    in this answer only: keep it where your receiver verifies signatures."""
    return service.create_channel(session=session, data=body, now=now)


@router.get("/v3/notification-channels", response_model=list[schemas.ChannelOut])
def list_channels(session: SessionDep) -> list[schemas.ChannelOut]:
    """Every channel (secrets never included; a Slack URL masked)."""
    return service.list_channels(session=session)


@router.get("/v3/notification-channels/{channel_id}", response_model=schemas.ChannelOut)
def get_channel(session: SessionDep, channel_id: ChannelId) -> schemas.ChannelOut:
    return service.get_channel(session=session, channel_id=channel_id)


@router.patch("/v3/notification-channels/{channel_id}", response_model=schemas.ChannelOut)
def update_channel(session: SessionDep, channel_id: ChannelId, body: schemas.ChannelPatch
                   ) -> schemas.ChannelOut:
    """Change a channel; a secret (Slack URL, SMTP password) only when one is given."""
    return service.update_channel(session=session, channel_id=channel_id, data=body)


@router.delete("/v3/notification-channels/{channel_id}",
               status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
def delete_channel(session: SessionDep, channel_id: ChannelId) -> Response:
    """Delete a channel and its delivery log; rules stop naming it."""
    service.delete_channel(session=session, channel_id=channel_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v3/notification-channels/{channel_id}/test", response_model=schemas.DeliveryOut)
def test_channel(session: SessionDep, now: NowDep, channel_id: ChannelId
                 ) -> schemas.DeliveryOut:
    """Send a test event now; the answer says what the receiver answered (status,
    status_code, error). Logged in the channel's delivery log."""
    return service.test_channel(session=session, channel_id=channel_id, now=now)


@router.get("/v3/notification-channels/{channel_id}/deliveries",
            response_model=Paginated[schemas.DeliveryOut])
def list_deliveries(request: Request, session: SessionDep, channel_id: ChannelId,
                    page: PageNumber = 1, page_size: PageSize = 100
                    ) -> Paginated[schemas.DeliveryOut]:
    """The channel's delivery log, newest first: time, event, status code, attempts, error."""
    found = service.list_deliveries(session=session, channel_id=channel_id, page=page,
                                    page_size=page_size)
    return paginated(request, found.items, count=found.total, page=page, page_size=page_size)


# -- rules (editors) ---------------------------------------------------------------------


@router.post("/v3/alert-rules", status_code=status.HTTP_201_CREATED,
             response_model=schemas.RuleOut)
def create_alert_rule(session: SessionDep, now: NowDep, body: schemas.RuleCreate
                      ) -> schemas.RuleOut:
    """Send `events` to `channel_ids`: for every extract when no extract_ids, data_table_ids,
    connection_ids or datasources are given, else for the extracts any of them names."""
    return service.create_alert_rule(session=session, data=body, now=now)


@router.get("/v3/alert-rules", response_model=list[schemas.RuleOut])
def list_alert_rules(session: SessionDep) -> list[schemas.RuleOut]:
    return service.list_alert_rules(session=session)


@router.get("/v3/alert-rules/{rule_id}", response_model=schemas.RuleOut)
def get_alert_rule(session: SessionDep, rule_id: RuleId) -> schemas.RuleOut:
    return service.get_alert_rule(session=session, rule_id=rule_id)


@router.patch("/v3/alert-rules/{rule_id}", response_model=schemas.RuleOut)
def update_alert_rule(session: SessionDep, rule_id: RuleId, body: schemas.RulePatch
                      ) -> schemas.RuleOut:
    """Change the fields given; `muted_until: null` unmutes."""
    return service.update_alert_rule(session=session, rule_id=rule_id,
                                     data=body.model_dump(exclude_unset=True))


@router.delete("/v3/alert-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
def delete_alert_rule(session: SessionDep, rule_id: RuleId) -> Response:
    service.delete_alert_rule(session=session, rule_id=rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- alerts ------------------------------------------------------------------------------


@router.get("/v3/alerts", response_model=Paginated[schemas.AlertOut])
def list_alerts(request: Request, session: SessionDep,
                status: Annotated[Literal["open", "closed"] | None, Query(
                    description="open or closed; both when left out.")] = None,
                extract_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                page: PageNumber = 1, page_size: PageSize = 100) -> Paginated[schemas.AlertOut]:
    """Alerts, newest first: open until the extract recovers."""
    found = service.list_alerts(session=session, status=status, extract_id=extract_id,
                                page=page, page_size=page_size)
    return paginated(request, found.items, count=found.total, page=page, page_size=page_size)


@router.post("/v3/alerts/{alert_id}/acknowledge", response_model=schemas.AlertOut)
def acknowledge_alert(session: SessionDep, now: NowDep, alert_id: AlertId
                      ) -> schemas.AlertOut:
    """Someone is on it: no more reminders; it stays open until the extract recovers."""
    return service.acknowledge_alert(session=session, alert_id=alert_id, now=now)


# -- the daily digest (each person their own; who gets it: admins) -----------------------


@router.get("/v3/digest", response_model=schemas.DigestOut)
def get_digest(session: SessionDep) -> schemas.DigestOut:
    """The daily digest of the key's owner: whether they get it, the hour (UTC) it goes
    out, and `why_not` when none can be sent. A key made without sign-in has no owner, so
    no email to send it to (400)."""
    return service.get_digest(session=session)


@router.put("/v3/digest", response_model=schemas.DigestOut)
def set_digest(session: SessionDep, now: NowDep, body: schemas.DigestSet
               ) -> schemas.DigestOut:
    """Opt the key's owner in to the daily digest email, or out."""
    return service.set_digest(session=session, subscribed=body.subscribed, now=now)


@router.get("/v3/digest/recipients", response_model=list[schemas.UserOut])
def list_digest_recipients(session: SessionDep) -> list[schemas.UserOut]:
    """Who gets the daily digest, by email (admins)."""
    return service.list_digest_recipients(session=session)
