"""What the assistant does in a conversation: rasa-sdk actions and forms.

Every action sees only the dispatcher, the tracker and the domain, reaches the store through
`actions.services`, and answers with message keys and values (`dispatcher.utter_message(
response="utter_…", **values)`) that the dialogue engine renders with `kernel.i18n`. The same
classes run in process (our engine calls rasa-sdk's `ActionExecutor` with the JSON a Rasa server
sends) and behind `gmina actions` (rasa-sdk's own action server); `domain.yml` is the Rasa domain
both read.
"""
