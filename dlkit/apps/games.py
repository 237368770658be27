"""Game AI on tic-tac-toe: the game tree, exact minimax, and Monte-Carlo tree search with UCT
(chapter 13, section "Game AI").

A board is a tuple of 9 cells, row by row: 1 for X, -1 for O, 0 for empty. X moves first, so
the player to move follows from the board. Values are from X's point of view: +1 X wins, -1 O
wins, 0 draw. AlphaGo and AlphaZero run the same search as :func:`mcts_move`, with a policy
network choosing which moves to try and a value network replacing the random rollout.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np

Board = tuple[int, ...]
Agent = Callable[[Board, np.random.Generator], int]
EMPTY: Board = (0,) * 9
LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


def check_board(board: Board) -> Board:
    """``board`` as a tuple, or a clear error if it cannot arise in a game."""
    board = tuple(int(c) for c in board)
    if len(board) != 9 or any(c not in (-1, 0, 1) for c in board):
        raise ValueError(f"expected 9 cells of 1 (X), -1 (O) or 0 (empty), got {board}")
    if board.count(1) - board.count(-1) not in (0, 1):
        raise ValueError(f"expected X to have as many marks as O or one more (X moves first), got {board}")
    return board


def to_move(board: Board) -> int:
    """1 if X is to move, -1 if O is (chapter 13)."""
    return 1 if board.count(1) == board.count(-1) else -1


def winner(board: Board) -> int | None:
    """1 or -1 for a completed line, 0 for a full board without one, None while play goes on."""
    for a, b, c in LINES:
        if board[a] != 0 and board[a] == board[b] == board[c]:
            return board[a]
    return 0 if 0 not in board else None


def legal_moves(board: Board) -> list[int]:
    """The empty cells, 0..8 row by row."""
    return [i for i, c in enumerate(board) if c == 0]


def play(board: Board, move: int) -> Board:
    """The board after the player to move marks cell ``move``."""
    if not 0 <= move < 9 or board[move] != 0:
        raise ValueError(f"expected an empty cell in 0..8, got {move} on {board}")
    return board[:move] + (to_move(board),) + board[move + 1:]


@cache
def minimax_value(board: Board) -> int:
    """The game-theoretic value of ``board`` under perfect play, from X's side (chapter 13).

    ``V(s) = max`` over X's moves, ``min`` over O's, the outcome at the leaves. The cache makes
    it visit each of tic-tac-toe's 5478 positions once; chess (~10^44 positions) and Go (~10^170)
    need depth limits, pruning and learned evaluations instead.
    """
    result = winner(board)
    if result is not None:
        return result
    values = [minimax_value(play(board, m)) for m in legal_moves(board)]
    return max(values) if to_move(board) == 1 else min(values)


def minimax_move(board: Board, rng: np.random.Generator | None = None) -> int:
    """A perfect player's move (a random one among the best, if ``rng`` is given)."""
    board = check_board(board)
    sign = to_move(board)
    values = {m: sign * minimax_value(play(board, m)) for m in legal_moves(board)}
    best = [m for m, v in values.items() if v == max(values.values())]
    return best[int(rng.integers(len(best)))] if rng is not None else best[0]


def random_move(board: Board, rng: np.random.Generator) -> int:
    """A uniformly random legal move: the baseline player."""
    moves = legal_moves(board)
    return moves[int(rng.integers(len(moves)))]


@dataclass
class Node:
    """One position in the search tree; ``wins`` counts from the side of the player who moved
    into it, so a parent picks the child that is best for itself."""
    board: Board
    parent: Node | None = None
    move: int | None = None
    children: list[Node] = field(default_factory=list)
    untried: list[int] = field(default_factory=list)
    visits: int = 0
    wins: float = 0.0

    def uct_child(self, c: float) -> Node:
        # UCT: exploit the mean result, explore where the visit count is small
        log_n = math.log(self.visits)
        return max(self.children, key=lambda ch: ch.wins / ch.visits + c * math.sqrt(log_n / ch.visits))


def rollout(board: Board, rng: np.random.Generator) -> int:
    """Random play to the end; returns the result from X's side."""
    result = winner(board)
    while result is None:
        board = play(board, random_move(board, rng))
        result = winner(board)
    return result


def mcts_move(board: Board, rng: np.random.Generator, playouts: int = 200, c: float = math.sqrt(2),
              root: list[Node] | None = None) -> int:
    """The move Monte-Carlo tree search picks after ``playouts`` simulations (chapter 13).

    Each simulation: **select** down the tree by UCT, **expand** one untried move, **simulate**
    a random game from there, **back up** the result along the path. The move played is the
    most visited child. Pass a list as ``root`` to receive the search tree (for plotting).
    """
    board = check_board(board)
    if winner(board) is not None:
        raise ValueError(f"expected a position with moves left, got the finished board {board}")
    if playouts < 1:
        raise ValueError(f"expected playouts >= 1, got {playouts}")
    tree = Node(board, untried=legal_moves(board))
    for _ in range(playouts):
        node = tree
        while not node.untried and node.children:                # 1. selection
            node = node.uct_child(c)
        if node.untried:                                          # 2. expansion
            move = node.untried.pop(int(rng.integers(len(node.untried))))
            child_board = play(node.board, move)
            child = Node(child_board, node, move, untried=[] if winner(child_board) is not None
                         else legal_moves(child_board))
            node.children.append(child)
            node = child
        result = rollout(node.board, rng)                         # 3. simulation
        while node is not None:                                   # 4. backpropagation
            node.visits += 1
            mover = -to_move(node.board)                          # who moved into this node
            node.wins += 1.0 if result == mover else 0.5 if result == 0 else 0.0
            node = node.parent
    if root is not None:
        root.append(tree)
    return max(tree.children, key=lambda ch: ch.visits).move


def play_game(x_agent: Agent, o_agent: Agent, rng: np.random.Generator) -> int:
    """Play one game; returns the result from X's side (1, 0 or -1)."""
    board = EMPTY
    while winner(board) is None:
        agent = x_agent if to_move(board) == 1 else o_agent
        board = play(board, agent(board, rng))
    return winner(board)
