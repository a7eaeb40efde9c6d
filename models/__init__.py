"""Models: simulator, training, MLflow registry and the batch scorer."""

from models.simulator import SimulatedTransaction, Simulator

__all__ = ["SimulatedTransaction", "Simulator"]
