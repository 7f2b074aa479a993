-- Argo CD health of a Subscriber (eventxmlrpc.io/v1alpha1), the verdict
-- kstatus gives in Argo CD's words: InProgress is Progressing, Current is
-- Healthy, Failed is Degraded. Argo CD runs it with the object as `obj`:
-- resource.customizations.health.eventxmlrpc.io_Subscriber in argocd-cm.
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
-- Stalled: the socket is unusable, the subscription expired, or its
-- deliveries keep failing (Delivering=False, DeliveryFailing).
local stalled = conditions["Stalled"]
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. stalled.message
  return hs
end
-- Reconciling: a problem that clears by itself, such as HostNotFound.
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
  local delivering = conditions["Delivering"]
  if delivering ~= nil then
    hs.message = hs.message .. "; " .. delivering.message
  end
end
return hs
