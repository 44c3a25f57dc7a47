"""Access logs without personal data: uvicorn's access log line carries the client address and the
full path, whose query string holds `user_id` / `session_id` and whose `/v1/users/{id}` path names a
user. This filter replaces the address with '-' always, and those ids with '-' unless
`KEPU_LOG_USER_IDS=true`.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
_QUERY_IDS = re.compile(r"(?<=[?&])(user_id|session_id)=[^&#\s]*")
_USER_PATH = re.compile(r"(/v1/users/)[^/?#\s]+")


def redact_path(path: str) -> str:
    """`/v1/recommendations?user_id=ab&k=3` -> `/v1/recommendations?user_id=-&k=3` (and /v1/users/-)."""
    return _USER_PATH.sub(r"\1-", _QUERY_IDS.sub(r"\1=-", path))


class AccessLogPrivacyFilter(logging.Filter):
    """Rewrites uvicorn access records `(client_addr, method, full_path, http_version, status_code)`."""

    def __init__(self, keep_user_ids: bool = False) -> None:
        super().__init__()
        self.keep_user_ids = keep_user_ids

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _client, method, path, version, status = args
            if not self.keep_user_ids and isinstance(path, str):
                path = redact_path(path)
            record.args = ("-", method, path, version, status)
        return True


def install(keep_user_ids: bool) -> AccessLogPrivacyFilter:
    """Put the filter on uvicorn's access logger (replacing one a previous app installed)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    for old in [f for f in logger.filters if isinstance(f, AccessLogPrivacyFilter)]:
        logger.removeFilter(old)
    installed = AccessLogPrivacyFilter(keep_user_ids)
    logger.addFilter(installed)
    return installed
