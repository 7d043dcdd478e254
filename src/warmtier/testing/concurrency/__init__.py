"""The concurrency suite: recorded histories and the linearizability checker, barrier
races, race programs, the controlled scheduler, panic injection and its pytest plugin."""
