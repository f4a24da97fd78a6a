"""An agent's media tools: generating images, speech and video (``generate.py``)."""
