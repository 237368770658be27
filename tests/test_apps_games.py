"""dlkit.apps.games (chapter 13): the tic-tac-toe rules, minimax's known values, and Monte-Carlo
tree search taking a win in one, blocking a loss in one, and never losing to a random player."""
from __future__ import annotations

import numpy as np
import pytest

from dlkit.apps.games import (
    EMPTY,
    check_board,
    legal_moves,
    mcts_move,
    minimax_move,
    minimax_value,
    play,
    play_game,
    random_move,
    to_move,
    winner,
)

X, O, _ = 1, -1, 0
# X to move, wins at once in cell 2 (top row); O threatens the middle row
WIN_IN_ONE = (X, X, _,
              O, O, _,
              _, _, _)
# O to move: X threatens the diagonal 0-4-8, O must take cell 8
MUST_BLOCK = (X, _, _,
              _, X, _,
              O, _, _)


def test_rules():
    assert to_move(EMPTY) == 1 and to_move(play(EMPTY, 4)) == -1
    assert winner((X, X, X, O, O, _, _, _, _)) == 1
    assert winner((O, X, X, X, O, _, X, _, O)) == -1
    assert winner((X, O, X, X, O, O, O, X, X)) == 0
    assert winner(EMPTY) is None and legal_moves(play(EMPTY, 0)) == list(range(1, 9))
    with pytest.raises(ValueError, match="empty cell"):
        play(play(EMPTY, 0), 0)
    with pytest.raises(ValueError, match="X moves first"):
        check_board((O, _, _, _, _, _, _, _, _))
    with pytest.raises(ValueError, match="9 cells"):
        check_board((X, _))


def test_minimax_knows_the_game():
    assert minimax_value(EMPTY) == 0                   # perfect play draws
    assert minimax_value(WIN_IN_ONE) == 1
    assert minimax_move(WIN_IN_ONE) == 2 and minimax_move(MUST_BLOCK) == 8
    # a corner opening answered at an edge loses for O
    assert minimax_value(play(play(EMPTY, 0), 1)) == 1


@pytest.mark.parametrize("seed", range(5))
def test_mcts_takes_the_win_and_blocks_the_loss(seed):
    rng = np.random.default_rng(seed)
    assert mcts_move(WIN_IN_ONE, rng, playouts=200) == 2
    assert mcts_move(MUST_BLOCK, rng, playouts=400) == 8
    tree = []
    mcts_move(EMPTY, rng, playouts=50, root=tree)
    assert tree[0].visits == 50 and sum(child.visits for child in tree[0].children) == 50


@pytest.mark.parametrize("seed", range(3))
def test_mcts_never_loses_to_random_and_draws_perfect_play(seed):
    rng = np.random.default_rng(seed)
    def agent(board, r):
        return mcts_move(board, r, playouts=600)
    results = [play_game(agent, random_move, rng) for _ in range(10)]
    results += [-play_game(random_move, agent, rng) for _ in range(10)]
    assert results.count(-1) == 0 and results.count(1) >= 13   # random vs random: about 44%
    assert play_game(agent, minimax_move, rng) == 0


def test_mcts_refuses_finished_games():
    with pytest.raises(ValueError, match="finished board"):
        mcts_move((X, X, X, O, O, _, _, _, _), np.random.default_rng(0))
