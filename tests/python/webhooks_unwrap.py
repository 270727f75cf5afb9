"""Verifies webhook deliveries as a receiver written with the official SDK
does: `client.beta.webhooks.unwrap(payload, headers=..., key=secret)`.

Reads `{"secret": ..., "deliveries": [{"body": ..., "headers": {...}}]}` from
the file named by its argument; prints, as its last line, `{"events": [...]}`: for each
delivery the unwrapped event's id and data, or the error that refused it.
"""

import json
import sys

import anthropic


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as file:
        request = json.load(file)
    client = anthropic.Anthropic()
    events = []
    for delivery in request["deliveries"]:
        try:
            event = client.beta.webhooks.unwrap(
                delivery["body"], headers=delivery["headers"], key=request["secret"]
            )
            events.append(
                {
                    "ok": True,
                    "id": event.id,
                    "type": event.type,
                    "data_type": event.data.type,
                    "data_id": event.data.id,
                }
            )
        except Exception as error:  # noqa: BLE001 - the refusal is the result
            events.append({"ok": False, "error": f"{type(error).__name__}: {error}"})
    print(json.dumps({"events": events}))


if __name__ == "__main__":
    main()
