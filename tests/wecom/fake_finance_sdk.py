"""A tiny stand-in for Tencent's libWeWorkFinanceSdk_C.so, compiled with gcc in the test.

It exposes the same C functions (NewSdk, Init, GetChatData, NewSlice, GetContentFromSlice, GetSliceLen,
FreeSlice, DecryptData, DestroySdk). Its records are baked in at build time: each message's random key
is RSA-PKCS1 encrypted with the test's public key, exactly as WeCom does, and DecryptData only answers
when handed the right decrypted key. `last_seq` and `fail_next` are globals a test can reach with ctypes.
"""

from __future__ import annotations

import base64
import ctypes
import json
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

C_TEMPLATE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char *buf; int len; } Slice_t;
typedef struct { int ready; } Sdk;
struct Rec { unsigned long long seq; const char *msgid, *wrapped_key, *enc, *key, *plain; };

static const struct Rec RECS[] = {
%(records)s
};
static const int NRECS = %(count)d;
static const char *CORP = %(corp)s;
static const char *SECRET = %(secret)s;

unsigned long long last_seq = 0;
int fail_next = 0;
int calls = 0;

void *NewSdk(void) { return calloc(1, sizeof(Sdk)); }
void DestroySdk(void *sdk) { free(sdk); }
Slice_t *NewSlice(void) { return calloc(1, sizeof(Slice_t)); }
void FreeSlice(Slice_t *s) { if (s) { free(s->buf); free(s); } }
char *GetContentFromSlice(Slice_t *s) { return s->buf; }
int GetSliceLen(Slice_t *s) { return s->len; }

int Init(void *sdk, const char *corpid, const char *secret) {
    if (strcmp(corpid, CORP) != 0 || strcmp(secret, SECRET) != 0) return 41001;
    ((Sdk *)sdk)->ready = 1;
    return 0;
}

int GetChatData(void *sdk, unsigned long long seq, unsigned int limit, const char *proxy,
                const char *passwd, int timeout, Slice_t *out) {
    calls++;
    last_seq = seq;
    if (!((Sdk *)sdk)->ready) return 10001;
    if (fail_next > 0) { fail_next--; return 10001; }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    unsigned int count = 0;
    n += snprintf(buf + n, cap - n, "{\"errcode\":0,\"errmsg\":\"ok\",\"chatdata\":[");
    for (int i = 0; i < NRECS && count < limit; i++) {
        if (RECS[i].seq <= seq) continue;
        n += snprintf(buf + n, cap - n,
                      "%%s{\"seq\":%%llu,\"msgid\":\"%%s\",\"publickey_ver\":1,"
                      "\"encrypt_random_key\":\"%%s\",\"encrypt_chat_msg\":\"%%s\"}",
                      count ? "," : "", RECS[i].seq, RECS[i].msgid, RECS[i].wrapped_key, RECS[i].enc);
        count++;
    }
    n += snprintf(buf + n, cap - n, "]}");
    out->buf = buf;
    out->len = (int)n;
    return 0;
}

int DecryptData(const char *key, const char *msg, Slice_t *out) {
    for (int i = 0; i < NRECS; i++) {
        if (strcmp(msg, RECS[i].enc) != 0) continue;
        if (strcmp(key, RECS[i].key) != 0) return 10040;
        out->len = (int)strlen(RECS[i].plain);
        out->buf = malloc(out->len + 1);
        memcpy(out->buf, RECS[i].plain, out->len + 1);
        return 0;
    }
    return 10041;
}
"""


@dataclass
class FakeSdk:
    """The compiled library and what the test needs to talk about it."""

    path: Path
    private_key_path: Path
    lib: ctypes.CDLL

    @property
    def last_seq(self) -> int:
        return ctypes.c_ulonglong.in_dll(self.lib, "last_seq").value

    @property
    def calls(self) -> int:
        return ctypes.c_int.in_dll(self.lib, "calls").value

    def fail_next(self, times: int) -> None:
        ctypes.c_int.in_dll(self.lib, "fail_next").value = times


def gcc_available() -> bool:
    return shutil.which("gcc") is not None


def build(tmp: Path, corp_id: str, secret: str, messages: list[dict[str, Any]], corrupt_seqs: tuple[int, ...] = ()
          ) -> FakeSdk:
    """Compile a fake SDK serving `messages` as seq 1..n (seqs in corrupt_seqs carry an unusable key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_path = tmp / "archive_private_key.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    rows = []
    for seq, message in enumerate(messages, 1):
        random_key = secrets.token_hex(16)
        wrapped = key.public_key().encrypt(random_key.encode(), padding.PKCS1v15())
        wrapped_b64 = base64.b64encode(wrapped).decode() if seq not in corrupt_seqs else "bm90IGEga2V5"
        enc = base64.b64encode(secrets.token_bytes(24) + str(seq).encode()).decode()
        plain = json.dumps(message, ensure_ascii=False)
        fields = [str(seq) + "ULL", *(c_literal(v) for v in (message["msgid"], wrapped_b64, enc, random_key, plain))]
        rows.append("    {" + ", ".join(fields) + "},")
    source = C_TEMPLATE % {"records": "\n".join(rows) or "    {0}", "count": len(rows),
                           "corp": c_literal(corp_id), "secret": c_literal(secret)}
    c_file, so_file = tmp / "fake_finance_sdk.c", tmp / "libWeWorkFinanceSdk_C.so"
    c_file.write_text(source, encoding="utf-8")
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(so_file), str(c_file)], check=True,
                   capture_output=True)
    return FakeSdk(so_file, key_path, ctypes.CDLL(str(so_file)))


def c_literal(text: str) -> str:
    """A C string literal for any text: printable ASCII as is, every other byte as an octal escape."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        out.append(ch if 32 <= byte < 127 and ch not in '"\\?' else f"\\{byte:03o}")
    return '"' + "".join(out) + '"'
