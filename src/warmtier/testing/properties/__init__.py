"""The property suite: Hypothesis strategies, the stateful machines (a store and the
model side by side), the Hypothesis profiles and their pytest plugin."""
