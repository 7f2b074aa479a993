-- Argo CD health of an EventRelay (eventxmlrpc.io/v1alpha1), the verdict
-- kstatus gives in Argo CD's words: InProgress is Progressing, Current is
-- Healthy, Failed is Degraded. Argo CD runs it with the object as `obj`:
-- resource.customizations.health.eventxmlrpc.io_EventRelay in argocd-cm.
local hs = {}
local status = obj.status
if status == nil or status.observedGeneration == nil or status.observedGeneration ~= obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the latest spec"
  return hs
end
local conditions = {}
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    conditions[condition.type] = condition
  end
end
local stalled = conditions["Stalled"]
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. stalled.message
  return hs
end
local reconciling = conditions["Reconciling"]
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = reconciling.reason .. ": " .. reconciling.message
  return hs
end
local ready = conditions["Ready"]
if ready ~= nil and ready.status ~= "True" then
  hs.status = "Progressing"
  hs.message = ready.reason .. ": " .. ready.message
  return hs
end
hs.status = "Healthy"
if ready ~= nil then
  hs.message = ready.message
  if status.socket ~= nil then
    hs.message = hs.message .. " (" .. status.socket .. ")"
  end
end
return hs
