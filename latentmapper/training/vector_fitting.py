"""The epoch loop of the small vector models (autoencoder, mapper, the image baselines).

Mini-batches of row-aligned tensors, a validation loss after every epoch, early stopping on
it, and a checkpoint per epoch, so a run resumes where it stopped.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from latentmapper.training.batches import epoch_batches
from latentmapper.training.checkpoints import load_checkpoint, save_checkpoint


def fit_vector_model(
    *,
    name: str,
    accelerator: Accelerator,
    model: torch.nn.Module,
    optimizer,
    loss_fn: Callable[..., torch.Tensor],
    train_tensors: Sequence[torch.Tensor],
    val_tensors: Sequence[torch.Tensor],
    epochs: int,
    batch_size: int,
    seed: int,
    checkpoint_dir: Path,
    resume_from: Path | None = None,
    patience: int | None = None,
    on_improvement: Callable[[torch.nn.Module], None] | None = None,
    baseline: float | None = None,
) -> dict:
    """Mini-batch epochs of ``loss_fn(model, *tensors)`` over row-aligned tensors, checkpointed each epoch.

    After every epoch the validation loss (the same ``loss_fn`` on ``val_tensors``) is logged;
    ``on_improvement(model)`` runs whenever it is the best so far, and with ``patience`` the run
    stops once it has not improved for that many epochs. ``baseline`` is a validation loss an epoch
    must beat to count as an improvement (e.g. the model this run fine-tunes). Returns the final state (history,
    best epoch and loss, whether it stopped early).
    """
    device = accelerator.device
    train_tensors = [t.to(device) for t in train_tensors]
    val_tensors = [t.to(device) for t in val_tensors]
    state = {"epoch": 0, "best_val": baseline, "best_epoch": 0, "bad_epochs": 0, "stopped_early": False,
             "seconds": 0.0, "history": []}
    if resume_from is not None:
        state = load_checkpoint(resume_from, accelerator.unwrap_model(model), optimizer)
        accelerator.print(f"{name}: resuming after epoch {state['epoch']}")
    started = time.perf_counter() - state["seconds"]
    count = train_tensors[0].shape[0]

    @torch.no_grad()
    def validation_loss() -> float:
        model.eval()
        total, rows = 0.0, val_tensors[0].shape[0]
        for i in range(0, rows, 4096):
            total += float(loss_fn(model, *(t[i : i + 4096] for t in val_tensors))) * min(4096, rows - i)
        return total / max(1, rows)

    bar = tqdm(total=epochs, initial=state["epoch"], desc=name, unit="epoch", disable=not accelerator.is_local_main_process)
    while state["epoch"] < epochs and not state["stopped_early"]:
        model.train()
        losses = []
        for index in epoch_batches(count, batch_size, seed=seed, epoch=state["epoch"], accelerator=accelerator):
            index = index.to(device)
            loss = loss_fn(model, *(t[index] for t in train_tensors))
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(loss)
            optimizer.step()
            losses.append(float(loss.detach()))
        val = validation_loss()
        state["epoch"] += 1
        improved = state["best_val"] is None or val < state["best_val"]
        if improved:
            state.update(best_val=val, best_epoch=state["epoch"], bad_epochs=0)
            if on_improvement is not None and accelerator.is_main_process:
                on_improvement(accelerator.unwrap_model(model))
        else:
            state["bad_epochs"] += 1
            state["stopped_early"] = patience is not None and state["bad_epochs"] >= patience
        state["seconds"] = time.perf_counter() - started
        state["history"].append({"epoch": state["epoch"], "train_loss": sum(losses) / max(1, len(losses)),
                                 "val_loss": val, "seconds": round(state["seconds"], 2)})
        if accelerator.is_main_process:
            save_checkpoint(checkpoint_dir, accelerator.unwrap_model(model), optimizer, state)
        accelerator.wait_for_everyone()
        bar.update(1)
        bar.set_postfix(train=f"{state['history'][-1]['train_loss']:.4g}", val=f"{val:.4g}",
                        best=f"{state['best_val']:.4g}@{state['best_epoch']}")
    bar.close()
    return state


__all__ = ["fit_vector_model"]
