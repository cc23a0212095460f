from __future__ import annotations

from typing import Any

from syncd.tracker.workflow import (
    Edge,
    WorkflowGraph,
    edges_from_transitions,
    reachable_from,
    shortest_path,
    unexplored_frontier,
)

RES = frozenset({"Done", "Won't Do", "Duplicate"})


def edge(tid: str, source: str, target: str, *, resolution: bool = False) -> Edge:
    return Edge(
        transition_id=tid,
        name=f"to {target}",
        source=source,
        target=target,
        resolution_allowed=RES if resolution else None,
        resolution_required=resolution,
    )


def security_workflow() -> WorkflowGraph:
    """To Do -> In Progress -> In Review -> Done, Won't Do / Duplicate from the open ones."""
    graph = WorkflowGraph()
    graph.learn(
        "To Do",
        [edge("11", "To Do", "In Progress"), edge("51", "To Do", "Won't Do", resolution=True)],
    )
    graph.learn(
        "In Progress",
        [
            edge("21", "In Progress", "In Review"),
            edge("71", "In Progress", "To Do"),
            edge("51", "In Progress", "Won't Do", resolution=True),
        ],
    )
    graph.learn(
        "In Review",
        [
            edge("31", "In Review", "Done", resolution=True),
            edge("41", "In Review", "In Progress"),
            edge("51", "In Review", "Won't Do", resolution=True),
        ],
    )
    graph.learn("Done", [edge("81", "Done", "To Do")])
    return graph


def ids(path: list[Edge] | None) -> list[str] | None:
    return None if path is None else [e.transition_id for e in path]


def test_already_there_is_an_empty_path() -> None:
    assert shortest_path(security_workflow(), "Done", "done") == []


def test_multi_hop_path_with_resolution_on_the_last_hop() -> None:
    graph = security_workflow()
    assert ids(shortest_path(graph, "To Do", "Done", "Done")) == ["11", "21", "31"]
    assert ids(shortest_path(graph, "In Progress", "In Review")) == ["21"]


def test_required_resolution_blocks_a_final_hop_without_one() -> None:
    graph = security_workflow()
    assert shortest_path(graph, "To Do", "Won't Do", None) is None
    assert ids(shortest_path(graph, "To Do", "Won't Do", "Won't Do")) == ["51"]


def test_resolution_not_on_the_screen_is_not_used() -> None:
    graph = WorkflowGraph()
    graph.learn(
        "Open",
        [
            Edge("1", "a", "Open", "Closed", frozenset({"Fixed"}), True),
            Edge("2", "b", "Open", "Closed", frozenset({"Won't Fix"}), True),
        ],
    )
    assert ids(shortest_path(graph, "Open", "Closed", "won't fix")) == ["2"]
    assert shortest_path(graph, "Open", "Closed", "Duplicate") is None


def test_a_hop_with_a_resolution_screen_is_preferred_when_one_is_wanted() -> None:
    graph = WorkflowGraph()
    graph.learn("Open", [edge("1", "Open", "Closed"), edge("2", "Open", "Closed", resolution=True)])
    assert ids(shortest_path(graph, "Open", "Closed", "Done")) == ["2"]
    assert ids(shortest_path(graph, "Open", "Closed", None)) == ["1"]


def test_intermediate_hops_never_need_a_resolution() -> None:
    graph = WorkflowGraph()
    graph.learn("A", [edge("1", "A", "B", resolution=True), edge("2", "A", "C")])
    graph.learn("B", [edge("3", "B", "D")])
    graph.learn("C", [edge("4", "C", "E")])
    graph.learn("E", [edge("5", "E", "D")])
    assert ids(shortest_path(graph, "A", "D", "Done")) == ["2", "4", "5"]


def test_unknown_target_has_no_path() -> None:
    assert shortest_path(security_workflow(), "To Do", "Blocked") is None


def test_frontier_lists_unexplored_statuses_nearest_first() -> None:
    graph = WorkflowGraph()
    graph.learn("To Do", [edge("11", "To Do", "In Progress")])
    frontier = unexplored_frontier(graph, "To Do")
    assert [(s, ids(p)) for s, p in frontier] == [("In Progress", ["11"])]
    graph.learn("In Progress", [edge("21", "In Progress", "In Review")])
    assert [s for s, _ in unexplored_frontier(graph, "To Do")] == ["In Review"]


def test_reachability() -> None:
    graph = security_workflow()
    assert reachable_from(graph, "To Do") == {"In Progress", "In Review", "Done", "Won't Do"}
    assert reachable_from(graph, "Won't Do") == frozenset()


def test_edges_from_a_transitions_payload() -> None:
    payload: dict[str, Any] = {
        "transitions": [
            {"id": "31", "name": "Done", "to": {"name": "Done"},
             "fields": {"resolution": {"required": True, "allowedValues": [
                 {"id": "1", "name": "Done"}, {"id": "2", "name": "Won't Do"}]}}},
            {"id": 41, "name": "Back", "to": {"name": "In Progress"}, "fields": {}},
            {"name": "broken"},
        ]
    }
    edges = edges_from_transitions("In Review", payload)
    assert edges == (
        Edge("31", "Done", "In Review", "Done", frozenset({"Done", "Won't Do"}), True),
        Edge("41", "Back", "In Review", "In Progress", None, False),
    )
    graph = WorkflowGraph()
    graph.learn("In Review", edges)
    assert graph.explored("in review")
    graph.forget("IN REVIEW")
    assert not graph.explored("In Review")


def test_non_strict_search_ignores_resolution_screens() -> None:
    graph = security_workflow()
    assert shortest_path(graph, "To Do", "Won't Do", None) is None
    assert ids(shortest_path(graph, "To Do", "Won't Do", None, strict=False)) == ["51"]
