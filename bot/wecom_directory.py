"""WeCom customer hand-over (离职继承 / 在职继承) and the org directory, behind neutral protocols
(handlers.handover.CustomerTransfer, handlers.org_sync.OrgDirectory)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.wecom_client import WeComClient, WeComError
from handlers import handover
from handlers.org_sync import OrgDirectoryUnavailable, OrgMember, register_org_directory

MAX_PAGES = 50


class WeComCustomerTransfer:
    """externalcontact/(resigned/)transfer_customer, groupchat/(onjob_)transfer and the result polls."""

    def __init__(self, client: WeComClient) -> None:
        self.client = client

    def _post(self, path: str, body: dict) -> dict:
        try:
            return self.client.post(path, body)
        except WeComError as exc:
            raise handover.TransferUnavailable(f"{path}: {exc}") from exc

    def transfer_customers(self, handover_id: str, takeover: str, external_ids: Sequence[str],
                           resigned: bool) -> dict[str, int]:
        path = "externalcontact/resigned/transfer_customer" if resigned else "externalcontact/transfer_customer"
        data = self._post(path, {"handover_userid": handover_id, "takeover_userid": takeover,
                                 "external_userid": list(external_ids)})
        return {str(c.get("external_userid")): int(c.get("errcode") or 0) for c in data.get("customer") or []}

    def transfer_groupchats(self, chat_ids: Sequence[str], new_owner: str, resigned: bool) -> dict[str, int]:
        path = "externalcontact/groupchat/transfer" if resigned else "externalcontact/groupchat/onjob_transfer"
        data = self._post(path, {"chat_id_list": list(chat_ids), "new_owner": new_owner})
        return {str(c.get("chat_id")): int(c.get("errcode") or 0) for c in data.get("failed_chat_list") or []}

    def transfer_status(self, handover_id: str, takeover: str, resigned: bool) -> dict[str, int]:
        path = "externalcontact/resigned/transfer_result" if resigned else "externalcontact/transfer_result"
        found: dict[str, int] = {}
        cursor = ""
        for _ in range(MAX_PAGES):
            data = self._post(path, {"handover_userid": handover_id, "takeover_userid": takeover, "cursor": cursor})
            found.update({str(c.get("external_userid")): int(c.get("status") or 0) for c in data.get("customer") or []})
            cursor = str(data.get("next_cursor") or "")
            if not cursor:
                break
        return found


def register(client: WeComClient, app_client: WeComClient | None = None) -> None:
    """Let hand-overs transfer WeCom customers (the customer-contact secret) and org sync read the
    directory (the app's secret: its visibility scope)."""
    handover.register_transfer("wecom", WeComCustomerTransfer(client))
    register_org_directory("wecom", WeComOrgDirectory(app_client or client))


class WeComOrgDirectory:
    """handlers.org_sync.OrgDirectory over department/list + user/list (direct_leader, status)."""

    def __init__(self, client: WeComClient) -> None:
        self.client = client

    def members(self) -> list[OrgMember]:
        try:
            departments = self.client.get("department/list").get("department") or []
            found: dict[str, OrgMember] = {}
            for dept in departments:
                for u in self.client.get("user/list", {"department_id": dept.get("id")}).get("userlist") or []:
                    leaders = u.get("direct_leader") or []
                    found.setdefault(str(u["userid"]), OrgMember(
                        str(u["userid"]), str(u.get("name") or u["userid"]), str(leaders[0]) if leaders else None,
                        active=int(u.get("status") or 1) in (1, 4)))  # 2 disabled, 5 left
        except WeComError as exc:
            raise OrgDirectoryUnavailable(str(exc)) from exc
        return list(found.values())
