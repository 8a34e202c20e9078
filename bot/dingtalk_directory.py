"""DingTalk org directory behind handlers.org_sync.OrgDirectory: departments from dept 1 down
(topapi/v2/department/listsub), members per department (topapi/v2/user/list, paged by cursor), and
each member's direct manager (topapi/v2/user/get → manager_userid, present only when one is set)."""

from __future__ import annotations

from typing import Any

from bot.dingtalk_client import DingTalkClient
from handlers.org_sync import OrgDirectoryUnavailable, OrgMember, register_org_directory
from scheduler.delivery import DeliveryError
from storage.common import utcnow

ROOT_DEPT = 1
PAGE = 100  # the documented maximum page size
MAX_DEPARTMENTS = 5000


class DingTalkOrgDirectory:
    def __init__(self, client: DingTalkClient) -> None:
        self.client = client

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            # the client's oapi call: shared token, one refetch on a revoked token, errors as DeliveryError
            data = self.client._oapi_post(path, body, utcnow())
        except DeliveryError as exc:
            raise OrgDirectoryUnavailable(f"{path}: {exc}") from exc
        result = data.get("result")
        return result if isinstance(result, dict) else {"list": result} if isinstance(result, list) else {}

    def departments(self) -> list[int]:
        found, frontier = [ROOT_DEPT], [ROOT_DEPT]
        while frontier and len(found) < MAX_DEPARTMENTS:
            dept = frontier.pop()
            children = [int(d["dept_id"]) for d in self._post("topapi/v2/department/listsub", {"dept_id": dept})
                        .get("list") or []]
            found += children
            frontier += children
        return found

    def members(self) -> list[OrgMember]:
        users: dict[str, dict[str, Any]] = {}
        for dept in self.departments():
            cursor = 0
            while True:
                page = self._post("topapi/v2/user/list", {"dept_id": dept, "cursor": cursor, "size": PAGE})
                for u in page.get("list") or []:
                    users.setdefault(str(u["userid"]), u)
                if not page.get("has_more"):
                    break
                cursor = int(page.get("next_cursor") or 0)
        out = []
        for userid, u in users.items():
            detail = self._post("topapi/v2/user/get", {"userid": userid})
            manager = detail.get("manager_userid") or None
            out.append(OrgMember(userid, str(u.get("name") or userid), manager, active=u.get("active", True) is not False))
        return out


def register(client: DingTalkClient) -> None:
    register_org_directory("dingtalk", DingTalkOrgDirectory(client))
