from models.simulator._old import SimulatedTransaction, Simulator, label_events
from models.simulator.history import History, simulate_history

__all__ = ["History", "SimulatedTransaction", "Simulator", "label_events", "simulate_history"]
