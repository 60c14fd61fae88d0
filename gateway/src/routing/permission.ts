/**
 * Calling permission classes, ordered from most to least restricted. An extension may use an
 * outbound route whose class is at or below its own. Emergency numbers are always allowed: a
 * phone that cannot reach 110/112/911 is a safety defect, whatever its class.
 */
export const permissionClasses = ['internal', 'local', 'national', 'international', 'premium'] as const;
export type PermissionClass = (typeof permissionClasses)[number];

export function permits(holder: PermissionClass, required: PermissionClass): boolean {
  return permissionClasses.indexOf(holder) >= permissionClasses.indexOf(required);
}

/** Emergency numbers by country plan (China: 110 police, 119 fire, 120 ambulance, 122 traffic). */
const emergencyNumbers: Record<string, readonly string[]> = {
  CN: ['110', '119', '120', '122', '112'],
  EU: ['112'],
  DE: ['110', '112'],
  FR: ['15', '17', '18', '112'],
  GB: ['999', '112'],
  US: ['911'],
  CA: ['911'],
};

export function isEmergencyNumber(digits: string, country: string): boolean {
  const list = emergencyNumbers[country.toUpperCase()] ?? ['112', '911'];
  return list.includes(digits) || digits === '112';
}
