"""The conversation archive through Tencent's Finance SDK (libWeWorkFinanceSdk_C.so), loaded with ctypes.

There is no pure-Python implementation of the archive protocol. The SDK hands out encrypted messages by
seq (GetChatData); each carries `encrypt_random_key`, RSA-PKCS1 encrypted with the public key set in
the admin console: we decrypt it with the private key (`cryptography`) and give it to DecryptData,
which returns the message as JSON. Configured by `[wecom.archive] sdk_path` and `private_key_path`.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bot.config import WeComConfig
from handlers.archive import ArchiveRecord, ArchiveUnavailable
from handlers.event_model import ArchivedMessage

log = logging.getLogger(__name__)


class Slice(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("len", ctypes.c_int)]


def _declare(lib: ctypes.CDLL) -> None:
    """The C signatures of WeWorkFinanceSdk_C.h that we use."""
    sdk, slice_p = ctypes.c_void_p, ctypes.POINTER(Slice)
    lib.NewSdk.restype, lib.NewSdk.argtypes = sdk, []
    lib.Init.restype, lib.Init.argtypes = ctypes.c_int, [sdk, ctypes.c_char_p, ctypes.c_char_p]
    lib.GetChatData.restype = ctypes.c_int
    lib.GetChatData.argtypes = [sdk, ctypes.c_ulonglong, ctypes.c_uint, ctypes.c_char_p, ctypes.c_char_p,
                                ctypes.c_int, slice_p]
    lib.DecryptData.restype = ctypes.c_int
    lib.DecryptData.argtypes = [ctypes.c_char_p, ctypes.c_char_p, slice_p]
    lib.NewSlice.restype, lib.NewSlice.argtypes = slice_p, []
    lib.FreeSlice.restype, lib.FreeSlice.argtypes = None, [slice_p]
    lib.GetContentFromSlice.restype, lib.GetContentFromSlice.argtypes = ctypes.c_void_p, [slice_p]
    lib.GetSliceLen.restype, lib.GetSliceLen.argtypes = ctypes.c_int, [slice_p]
    lib.DestroySdk.restype, lib.DestroySdk.argtypes = None, [sdk]


class FinanceSdkSource:
    """handlers.archive.ArchiveSource over the Finance SDK; one SDK handle, calls serialized."""

    def __init__(self, sdk_path: str, private_key: rsa.RSAPrivateKey, corp_id: str, secret: str,
                 timeout_seconds: int = 10) -> None:
        try:
            self.lib = ctypes.CDLL(sdk_path)
            _declare(self.lib)
        except (OSError, AttributeError) as exc:
            raise ArchiveUnavailable(f"cannot load the Finance SDK at {sdk_path}: {exc}") from None
        self.name = f"wecom:archive:{corp_id}"
        self.timeout = timeout_seconds
        self._key = private_key
        self._lock = threading.Lock()
        self._sdk = self.lib.NewSdk()
        rc = self.lib.Init(self._sdk, corp_id.encode(), secret.encode())
        if rc != 0:
            self.close()
            raise ArchiveUnavailable(f"Finance SDK Init failed with {rc} (check corp_id and [wecom.archive] secret)")

    def fetch(self, after_seq: int, limit: int) -> list[ArchiveRecord]:
        with self._lock:
            raw = self._slice(lambda s: self.lib.GetChatData(self._sdk, after_seq, limit, b"", b"", self.timeout, s),
                              "GetChatData")
        try:
            data = json.loads(raw)
        except ValueError:
            raise ArchiveUnavailable("GetChatData returned something other than JSON") from None
        if data.get("errcode"):
            raise ArchiveUnavailable(f"GetChatData errcode {data.get('errcode')}: {data.get('errmsg', '')}")
        return [self._open(item) for item in data.get("chatdata") or []]

    def close(self) -> None:
        if self._sdk:
            self.lib.DestroySdk(self._sdk)
            self._sdk = None

    def _open(self, item: dict[str, Any]) -> ArchiveRecord:
        seq = int(item.get("seq") or 0)
        try:
            random_key = self._key.decrypt(base64.b64decode(item["encrypt_random_key"]), padding.PKCS1v15())
            encrypted = str(item["encrypt_chat_msg"]).encode()
            with self._lock:
                plain = self._slice(lambda s: self.lib.DecryptData(random_key, encrypted, s), "DecryptData")
            data = json.loads(plain)
        except (KeyError, ValueError, binascii.Error, ArchiveUnavailable) as exc:
            return ArchiveRecord(seq, None, f"{type(exc).__name__}: {exc}")
        return archive_record(seq, data)

    def _slice(self, call: Callable[[Any], int], what: str) -> bytes:
        out = self.lib.NewSlice()
        try:
            rc = call(out)
            if rc != 0:
                raise ArchiveUnavailable(f"{what} failed with {rc}")
            size = self.lib.GetSliceLen(out)
            ptr = self.lib.GetContentFromSlice(out)
            return ctypes.string_at(ptr, size) if ptr and size > 0 else b""
        finally:
            self.lib.FreeSlice(out)


def load_private_key(path: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ArchiveUnavailable(f"cannot read the archive private key {path}: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ArchiveUnavailable(f"{path} is not an RSA private key")
    return key


def finance_sdk_source(config: WeComConfig) -> FinanceSdkSource:
    """The source configured by [wecom.archive]; raises ArchiveUnavailable when it cannot start."""
    archive = config.archive
    if archive is None or not archive.sdk_path:
        raise ArchiveUnavailable("[wecom.archive] sdk_path is not set")
    return FinanceSdkSource(archive.sdk_path, load_private_key(archive.private_key_path), config.corp_id,
                            archive.secret, archive.timeout_seconds)


# ---------------------------------------------------------------------------------------------- decoding

PLATFORM = "wecom"
# WeCom external contacts' userids start with these (wo: external WeCom users, wm: WeChat users).
EXTERNAL_PREFIXES = ("wo", "wm")
PLACEHOLDERS = {"image": "[图片]", "voice": "[语音]", "video": "[视频]", "emotion": "[表情]", "file": "[文件]",
                "location": "[位置]", "link": "[链接]", "weapp": "[小程序]", "card": "[名片]", "revoke": "[撤回]",
                "meeting_voice_call": "[语音通话]", "voip_doc_share": "[共享文档]"}


def archive_record(seq: int, data: Any) -> ArchiveRecord:
    """A decrypted archive message as an ArchiveRecord: the neutral message, or why it is skipped."""
    try:
        message = decode_archive_message(data)
    except ValueError as exc:
        return ArchiveRecord(seq, None, skipped=f"invalid: {exc}")
    return ArchiveRecord(seq, message, skipped="" if message else "not a customer chat message")


def decode_archive_message(data: Any) -> ArchivedMessage | None:
    """A decrypted WeCom archive message in neutral terms, or None for what is not a chat message
    (recalls, switch records). Raises ValueError on a malformed record."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("action", "send") != "send":
        return None
    msg_id, sender = data.get("msgid"), data.get("from")
    if not isinstance(msg_id, str) or not msg_id or not isinstance(sender, str) or not sender:
        raise ValueError("msgid and from are required")
    recipients = tuple(str(t) for t in data.get("tolist") or [])
    kind = str(data.get("msgtype") or "text")
    raw_file = data.get("file") if kind == "file" else None
    file: dict[str, Any] = raw_file if isinstance(raw_file, dict) else {}
    return ArchivedMessage(
        platform=PLATFORM, msgid=msg_id, sender=sender, recipients=recipients, room=str(data.get("roomid") or ""),
        time=_msg_time(data.get("msgtime")), kind=kind, text=message_text(data),
        outsiders=tuple(i for i in (sender, *recipients) if i.startswith(EXTERNAL_PREFIXES)),
        file_name=str(file.get("filename") or ""), file_size=_int_or_none(file.get("filesize")),
        file_md5=str(file.get("md5sum") or ""),
    )


def message_text(data: dict[str, Any]) -> str:
    msg_type = str(data.get("msgtype") or "text")
    body = data.get(msg_type)
    if msg_type in ("text", "markdown") and isinstance(body, dict):
        return str(body.get("content") or "")
    label = PLACEHOLDERS.get(msg_type, f"[{msg_type}]")
    if isinstance(body, dict):
        detail = body.get("title") or body.get("filename") or body.get("address") or ""
        if detail:
            return f"{label} {detail}"
    return label


def _msg_time(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise ValueError(f"msgtime {value!r} is not a time in milliseconds") from None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
