"""Foundation: settings, shared data types, JSON logs. Imports nothing else of tradewarden."""
