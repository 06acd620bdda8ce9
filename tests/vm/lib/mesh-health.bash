# Health of tests/vm/mesh-vip.sh's lab (sourced by it; uses net_id, client_ns and the helpers). Two
# services on network blue (node1/node2) run mesh.py, whose GET /health (the HTTP check) answers
# 503 while the test's flag file for the task exists:
# - hc (2 replicas): one replica's check fails: it goes to weight 0 on every node and requests to
#   hc's VIP from node3 reach only the other one; the flag removed, it is healthy, at weight 1 and
#   answers again, not replaced;
# - hcr (1 replica), at the same time: its task is left unhealthy and the manager replaces it; the
#   new task joins the VIP once healthy and answers.
# An unhealthy task is replaced after as long as it took to declare it (retries x interval). hc's
# 20 x 2 s = 40 s is the window in which the test must see weight 0, probe and heal: with 6 x 2 s
# the replacement came first at load 7 (the feed took 6 s, each wait's try 3-6 s under TCG).
# hcr's 3 x 2 s makes its replacement quick.
# shellcheck shell=bash
for s in hc:2:20 hcr:1:3; do
    IFS=: read -r name replicas retries <<<"$s"
    call POST /services -d "$(mesh_spec "$name" "$replicas" ".networks = [{target: \"blue\"}]
        | .placement = {constraints: [\"node.hostname!=node3\"]} | .healthCheck.retries = $retries")" >/dev/null
done
wait_for "2 healthy hc tasks" 300 counts 2 healthy_running hc
wait_for "1 healthy hcr task" 300 counts 1 healthy_running hcr
hc_vip=$(vip_of hc "$net_id")
hc_mark=$(fwmark_of hc "$net_id")
hcr_vip=$(vip_of hcr "$net_id")
hcr_mark=$(fwmark_of hcr "$net_id")
weights_are() { same_weights "$2" "$(weights_of "$net_id" "$1")"; } # MARK "W ..."
wait_for "2 hc replicas at weight 1 on every node" 300 weights_are "$hc_mark" "1 1"
wait_for "the hcr replica at weight 1 on every node" 300 weights_are "$hcr_mark" 1
step "hc and hcr healthy"
hc_names=$(names_of hc)
hcr_name=$(names_of hcr)
[[ $(wc -l <<<"$hc_names") == 2 ]] || fail "hc should have 2 replicas: [$(xargs <<<"$hc_names")]"
sick=$(head -n 1 <<<"$hc_names")
well=$(tail -n 1 <<<"$hc_names")
[[ $(probe "$client_ns" tcp "$hc_vip" 8080 6 | sort -u) == "$hc_names" ]] || fail "both hc replicas should answer before"

touch "$sick_dir/$sick" "$sick_dir/$hcr_name"
wait_for "$sick at weight 0 on every node" 300 weights_are "$hc_mark" "0 1"
got=$(probe "$client_ns" tcp "$hc_vip" 8080 3 | sort -u)
rm "$sick_dir/$sick"
[[ $got == "$well" ]] || fail "with $sick unhealthy the VIP answered [$(xargs <<<"$got")], expected only $well"
step "$sick at weight 0, only $well answers"
wait_for "$sick back at weight 1 on every node" 300 weights_are "$hc_mark" "1 1"
[[ $(names_of hc) == "$hc_names" ]] || fail "hc's tasks changed: [$(names_of hc | xargs)] ($sick was replaced before it healed)"
got=$(probe "$client_ns" tcp "$hc_vip" 8080 6 | sort -u)
[[ $got == "$hc_names" ]] || fail "after recovery the VIP answered [$(xargs <<<"$got")], expected [$(xargs <<<"$hc_names")]"
echo "health: $sick unhealthy -> weight 0 on every node, only $well answers; healthy again -> weight 1, both answer, not replaced: ok"
step "$sick healthy again"

# Left unhealthy, hcr's task is replaced (Swarm's rule); its replacement starts without the flag.
replaced() { [[ $(names_of hcr) != "$hcr_name" && $(healthy_running hcr) == 1 ]]; }
wait_for "$hcr_name to be replaced by a healthy task" 600 replaced
wait_for "hcr's new task at weight 1 on every node" 300 weights_are "$hcr_mark" 1
expect_ipvs "$net_id" hcr 1
new_name=$(names_of hcr)
got=$(probe "$client_ns" tcp "$hcr_vip" 8080 3 | sort -u)
[[ $got == "$new_name" ]] || fail "after the replacement hcr's VIP answered [$(xargs <<<"$got")], expected [$new_name]"
echo "health: $hcr_name left unhealthy was replaced by $new_name, which answers through the VIP at weight 1: ok"
