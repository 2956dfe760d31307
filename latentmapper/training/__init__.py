"""What the training stages share, and the stages' commands.

The scripts in ``train/`` (and ``evaluate/``, ``benchmarks/``) only call a command's
``main()``; everything else lives here, one idea per module:

* ``presets``: a stage's settings (``train/configs/<stage>_<preset>.json`` or ``--config``)
  with ``--set key=value`` overrides, and the arguments every stage shares;
* ``devices``: the Accelerator a preset asks for;
* ``checkpoints``: resumable checkpoints, one format for every stage, written atomically;
* ``outputs``: finished components, written atomically (JSON logs: ``latentmapper.atomic.write_json``);
* ``batches``: shuffled index batches that a resumed run draws again;
* ``vector_fitting``: the epoch loop of the small vector models (autoencoder, mapper, baselines);
* ``dit_fitting``: the DIT auto-decoder's training loop; ``sdf_samples``: its per-shape draws;
* ``encoder_fitting``, ``matting_fitting``, ``cyclegan_fitting``, ``goembed_fitting``: the loops
  of the offline encoders, the photo-mode matting U-Net, the real-to-synthetic translator and
  the GOEmbed encoder;
* ``feature_caching``: the key codebook and the cached CLIP and bag features of every view;
* ``split_latents``: DIT codes fitted to the shapes of another split;
* ``cached_features``, ``latent_codes``, ``autoencoder_codes``: the cached inputs and targets
  the mapper stages read;
* ``render_cache``, ``fixed_views``, ``view_sets``: the image stages' inputs; ``augmentation``:
  their random zoom and rotation; ``caption_tokenizer``: the offline CLIP's tokenizer;
* ``schedules``: learning rates as functions of the step;
* ``assembly``: the shipped pipeline put together from the runs' folders;
* ``commands``: one module per training script, each with ``main(argv)``.

Nothing is imported here: each stage pulls in only what it uses.
"""
