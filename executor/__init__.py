"""The executor process: places approved intents as orders and records their life cycle and fills."""
