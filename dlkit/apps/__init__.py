"""Deep learning in the world, the library of chapter 13: small, tested versions of the
methods behind speech, games, generative AI, recommenders, science, medicine and finance.

Import a module directly (``from dlkit.apps.<module> import ...``); each file is one
application and names the section of chapter 13 that teaches it.

Parts I–II (speech, speech synthesis, game AI, generative AI):

- ``speech``: STFT, spectrogram, mel filterbank, log-mel features
- ``keywords``: synthetic spoken words (formant-like tones), deterministic per seed
- ``ctc``: collapse, greedy decoding, a brute-force CTC loss for tiny cases
- ``wer``: word error rate with substitution, deletion and insertion counts
- ``griffin_lim``: phase recovery from a magnitude spectrogram
- ``games``: tic-tac-toe, minimax, Monte-Carlo tree search with UCT
- ``diffusion``: DDPM noise schedules, forward noising, denoiser, sampler
- ``style``: Gram matrix, content and style losses

Parts III–IV (recommenders, science, medicine, finance):

- ``recommend``: matrix factorization with user and item biases, RMSE, the item-mean baseline
- ``ranking``: recall@k and NDCG@k for top-k recommendation lists
- ``two_tower``: two-tower retrieval trained on implicit feedback with in-batch negatives and
  the logQ correction
- ``feedback``: a popularity recommender's feedback loop, with and without exploration
- ``surrogate``: a projectile simulator with drag, and inverse design through a neural surrogate
- ``diagnosis``: sensitivity, specificity, the threshold for a required sensitivity, calibration
- ``credit``: scorecard points and reason codes from a logistic regression
- ``finance``: walk-forward splits, lagged returns, a look-ahead smoother, forecast skill
"""
