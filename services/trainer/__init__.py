"""The trainer worker (queue ``train``): datasets, fitting the identity head, publishing models."""
