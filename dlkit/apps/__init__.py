"""Deep learning in the world, the library of chapter 13: small, tested versions of the
methods behind speech, games, generative AI, recommenders, science, medicine and finance.

Import a module directly (``from dlkit.apps.<module> import ...``); each file is one
application and names the section of chapter 13 that teaches it.

Part A (speech, speech synthesis, game AI, generative AI):
``speech`` (STFT, spectrogram, mel filterbank, log-mel), ``keywords`` (synthetic spoken words),
``ctc`` (collapse, greedy decoding, brute-force CTC loss), ``wer`` (word error rate),
``griffin_lim`` (phase recovery),
``games`` (tic-tac-toe, minimax, MCTS with UCT), ``diffusion`` (DDPM), ``style`` (Gram matrix).
"""
