"""Customer names as typed in commands: normalised, and refused with a Chinese reason if unusable."""

from __future__ import annotations

from handlers.commands import UsageError
from storage.customers import NAME_LENGTH, normal_name


def typed_customer_name(text: str, example: str = "关联 华为技术有限公司") -> str:
    """The normalised name, or UsageError when nothing visible is left or it does not fit."""
    name = normal_name(text)
    if not name:
        raise UsageError(f"客户名是空的（只有空格或不可见字符）。请写上客户名，例如「{example}」。")
    if len(name) > NAME_LENGTH:
        raise UsageError(f"客户名太长（{len(name)} 个字），最多 {NAME_LENGTH} 个字。请写公司全称，例如「{example}」。")
    return name
