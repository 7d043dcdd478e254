"""The crash-consistency harness: process kills, simulated power loss, disk faults, fuzzing.

Reusable against any store that keeps the contract (``docs/crash.md``): ``kills`` runs a
seeded workload in a child and kills it, ``powerloss`` builds the disk images a power cut
could leave, ``fuzz`` mutates store files, ``checks`` states the promises.
"""
