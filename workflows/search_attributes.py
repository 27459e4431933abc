"""The nine search attributes of CONTRACT.md: a manager's live view in Temporal visibility.

Keep PII (names, message text) out of these: they are indexed and listed in plain text.
"""

from temporalio.common import SearchAttributeKey

OWNER_ACCOUNT = SearchAttributeKey.for_keyword("OwnerAccount")
OWNER_SKILL = SearchAttributeKey.for_keyword("OwnerSkill")
HANDLER_ACCOUNT = SearchAttributeKey.for_keyword("HandlerAccount")
HANDLER_SKILL = SearchAttributeKey.for_keyword("HandlerSkill")
ASSIGNED_AGENT = SearchAttributeKey.for_keyword("AssignedAgent")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
CONVERSATION_STATUS = SearchAttributeKey.for_keyword("ConversationStatus")
ROLLOVER_MODE = SearchAttributeKey.for_keyword("RolloverMode")

ALL = (OWNER_ACCOUNT, OWNER_SKILL, HANDLER_ACCOUNT, HANDLER_SKILL, ASSIGNED_AGENT, CHANNEL, CUSTOMER_ID,
       CONVERSATION_STATUS, ROLLOVER_MODE)


def literal(value: str) -> str:
    """A string literal of the visibility query language: ``OwnerAccount = {literal(account)}``."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
