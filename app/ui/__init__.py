"""The analyst's web page (Gradio): chat with the agent, watch its tool steps, resume threads."""
